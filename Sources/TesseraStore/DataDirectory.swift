import Foundation

/// The folder that holds the SQLite database, its WAL and the credentials file: private to the
/// user Tessera runs as. The database holds the private signing keys, so anyone who can read
/// it can mint bearers Tessera accepts.
///
/// A new folder is made 0700. An existing one keeps the mode its operator gave it, with a
/// warning when group or others may read or enter it; the files Tessera keeps in it are 0600
/// either way (``SQLiteStore`` sets its own).
public enum DataDirectory {
    public static let folderMode: mode_t = 0o700
    public static let fileMode: mode_t = 0o600

    /// Creates `path` (0700) if missing. Returns a warning to log when an existing folder is
    /// open to group or others.
    @discardableResult
    public static func prepare(_ path: String) throws -> String? {
        var isDirectory: ObjCBool = false
        if FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) {
            guard isDirectory.boolValue else { throw StoreError("the data folder \(path) is not a folder") }
            let mode = try mode(of: path)
            guard mode & 0o077 != 0 else { return nil }
            return "the data folder \(path) is open to other users (mode \(String(mode, radix: 8))): it holds the signing keys; chmod 700 it"
        }
        do {
            try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true,
                                                    attributes: [.posixPermissions: Int(folderMode)])
        } catch {
            throw StoreError("cannot create the data folder \(path): \(error)")
        }
        // The umask may have taken bits away from the mode asked for, never added any; set it exactly.
        guard chmod(path, folderMode) == 0 else { throw StoreError("cannot set the mode of \(path): errno \(errno)") }
        return nil
    }

    /// Makes `path` 0600, creating it empty if missing.
    public static func securePrivateFile(_ path: String, create: Bool) throws {
        if !FileManager.default.fileExists(atPath: path) {
            guard create else { return }
            let descriptor = open(path, O_CREAT | O_WRONLY | O_CLOEXEC, fileMode)
            guard descriptor >= 0 else { throw StoreError("cannot create \(path): errno \(errno)") }
            close(descriptor)
        }
        guard chmod(path, fileMode) == 0 else { throw StoreError("cannot set the mode of \(path): errno \(errno)") }
    }

    static func mode(of path: String) throws -> mode_t {
        var status = stat()
        guard stat(path, &status) == 0 else { throw StoreError("cannot read the mode of \(path): errno \(errno)") }
        return status.st_mode & 0o7777
    }
}
