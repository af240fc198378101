import Foundation
import TesseraCore
import TesseraServices
import TesseraStore

extension TesseraConfiguration {
    /// The demo configuration shipped with the program.
    public static func demoYAML() throws -> String {
        guard let url = Bundle.module.url(forResource: "demo", withExtension: "yaml", subdirectory: "Resources") else {
            throw ConfigurationError("the demo configuration is missing from the program's resources")
        }
        return try String(contentsOf: url, encoding: .utf8)
    }
}

/// The demo's key-encryption key: a file in the data folder (0600), made at the first start and
/// read at the next ones. Apart from the database, so that a copy of the database alone cannot
/// sign a token; an operator's own configuration gives the key instead.
public enum DemoKeyEncryptionKey {
    public static let fileName = "demo-key-encryption-key"

    /// The key in `dataDirectory` (made there if missing), and the file's path.
    public static func readOrMake(in dataDirectory: String) throws -> (sealing: KeySealing, path: String) {
        if let warning = try DataDirectory.prepare(dataDirectory) { FileHandle.standardError.write(Data("warning: \(warning)\n".utf8)) }
        let path = (dataDirectory as NSString).appendingPathComponent(fileName)
        if let existing = try? String(contentsOfFile: path, encoding: .utf8) {
            do { return (try KeySealing(encoded: existing), path) } catch {
                throw ConfigurationError("\(path): \(error.description)")
            }
        }
        let encoded = KeySealing.generateEncodedKey()
        // Made 0600 before the key is written to it.
        try DataDirectory.securePrivateFile(path, create: true)
        try Data((encoded + "\n").utf8).write(to: URL(fileURLWithPath: path))
        return (try KeySealing(encoded: encoded), path)
    }
}
