import ArgumentParser
import Foundation
import TesseraServices

/// `tessera config …`: the configuration file, without starting anything.
struct ConfigCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "config", abstract: "Work with a configuration file without starting Tessera.", subcommands: [Check.self])

    struct Check: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Validate a configuration: each error with its line and reason, unknown keys included.",
            discussion: "Exits 0 when the configuration would start, 1 otherwise. Hashes clear passwords as a start would, so it takes a moment per subscriber.")

        @Argument(help: "The YAML configuration file.") var file: String

        func run() throws {
            let yaml: String
            do { yaml = try String(contentsOfFile: file, encoding: .utf8) } catch {
                print("\(file): cannot read it: \(error.localizedDescription)")
                throw ExitCode(1)
            }
            let (problems, configuration) = ConfigurationCheck.check(yaml: yaml)
            for problem in problems {
                print("\(file):\(problem.line.map { "\($0):" } ?? "") \(problem.message)")
            }
            guard problems.isEmpty else { throw ExitCode(1) }
            print("\(file): valid")
            if configuration?.keySealing == nil {
                print("note: no server.key_encryption_key: give TESSERA_KEY_ENCRYPTION_KEY to `tessera serve`")
            }
        }
    }
}
