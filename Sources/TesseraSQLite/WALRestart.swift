import GRDB
import Synchronization

/// Keeps the WAL short under writes that never pause, without a long checkpoint inside a commit.
///
/// SQLite starts the WAL over at the first write after a checkpoint has copied every frame of it
/// into the database file. The side checkpointer (its own connection, PASSIVE, every 50 ms)
/// copies the frames committed when it began; under writes that never pause, new ones always land
/// meanwhile, so by itself it never copies them all and the WAL only grows. When it reports a WAL
/// past ``frames`` that it copied (nearly) all of, the writer, between two batches, copies the
/// rest itself: only what landed since that checkpoint began, after which the next transaction
/// starts the WAL over. Nothing waits on a long checkpoint, as everything did when the writer's
/// own automatic checkpoint at ``SQLiteStore/walCheckpointFrames`` had to copy the whole WAL
/// inside a commit (that one stays, for when the side checkpointer cannot keep up).
final class WALRestart: Sendable {
    /// What the side checkpointer saw at its last checkpoint; `acted` once the writer used it.
    private struct Report {
        var walFrames = 0
        var copied = 0
        var acted = true
    }

    /// WAL frames past which the writer finishes the side checkpointer's copy.
    let frames: Int
    /// Frames the side checkpointer may have left uncopied (readers still on them) for the
    /// writer still to take over: past it, the writer's copy would be long, and it waits.
    let uncopied: Int
    private let report = Mutex(Report())

    init(frames: Int, uncopied: Int) {
        self.frames = frames
        self.uncopied = uncopied
    }

    /// The side checkpointer's counts after a PASSIVE checkpoint.
    func sideCheckpointed(walFrames: Int, copied: Int) {
        report.withLock { $0 = Report(walFrames: walFrames, copied: copied, acted: false) }
    }

    /// On the writer's connection, outside any transaction: copies the WAL's last frames when the
    /// side checkpointer's latest report says it is time. A PASSIVE checkpoint never waits: if
    /// the side checkpointer runs one at that moment, this one does nothing, and the next report
    /// decides again.
    func writerIdle(_ db: Database) {
        let due = report.withLock { report in
            guard !report.acted, report.walFrames >= frames, report.walFrames - report.copied <= uncopied else { return false }
            report.acted = true
            return true
        }
        if due { _ = try? db.checkpoint(.passive) }
    }
}
