import Foundation
import Hummingbird
import TesseraCore
import Yams

/// Tessera's own OpenAPI 3.1 document (`Resources/openapi.yaml`), served as JSON at
/// `GET /openapi.json`: converted once at start.
enum OpenAPIDocument {
    static func load() throws -> ByteBuffer {
        guard let url = Bundle.module.url(forResource: "openapi", withExtension: "yaml", subdirectory: "Resources") else {
            throw ConfigurationError("the OpenAPI document is missing from the program's resources")
        }
        let yaml = try String(contentsOf: url, encoding: .utf8)
        guard let document = try Yams.load(yaml: yaml), JSONSerialization.isValidJSONObject(document) else {
            throw ConfigurationError("the OpenAPI document is not a JSON-compatible mapping")
        }
        return ByteBuffer(data: try JSONSerialization.data(withJSONObject: document, options: [.sortedKeys, .withoutEscapingSlashes]))
    }
}
