import Foundation
import TesseraCore
import TesseraServices

extension TesseraConfiguration {
    /// The demo configuration shipped with the program.
    public static func demoYAML() throws -> String {
        guard let url = Bundle.module.url(forResource: "demo", withExtension: "yaml", subdirectory: "Resources") else {
            throw ConfigurationError("the demo configuration is missing from the program's resources")
        }
        return try String(contentsOf: url, encoding: .utf8)
    }
}
