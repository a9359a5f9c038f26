import Dispatch
import Foundation
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// Password checks on threads of their own, at most `threads` at once and `queue` waiting.
///
/// A check costs a few hundred milliseconds of CPU by design (PBKDF2, `PasswordHash`). Run on
/// Swift's cooperative pool it would hold one of its threads (two, on two cores) for all that
/// time, and every request of the data path would wait behind a sign-in flood. Here the work
/// runs on dedicated threads at a lower scheduling priority (nice 10), so the kernel gives the
/// data path's threads the CPU first, and a full queue is refused at once (`Busy`) instead of
/// growing without bound.
public final class PasswordHasher: Sendable {
    public struct Busy: Error, Sendable {}

    struct Job {
        let password: String
        let stored: String
        let done: CheckedContinuation<Bool?, Never>
    }

    struct State {
        var jobs: [Job] = []
        var running = 0
    }

    let state = Mutex(State())
    let wake = DispatchSemaphore(value: 0)
    public let threads: Int
    public let queue: Int

    public init(threads: Int = 1, queue: Int = 16) {
        self.threads = max(1, threads)
        self.queue = max(0, queue)
        for i in 0..<self.threads {
            let thread = Thread { [self] in self.run() }
            thread.name = "password-hasher-\(i)"
            thread.start()
        }
    }

    /// Whether `password` matches `stored`; throws `Busy` when the queue is full.
    public func verify(_ password: String, against stored: String) async throws(Busy) -> Bool {
        let verdict: Bool? = await withCheckedContinuation { (done: CheckedContinuation<Bool?, Never>) in
            let admitted = state.withLock { s in
                guard s.jobs.count + s.running < threads + queue else { return false }
                s.jobs.append(Job(password: password, stored: stored, done: done))
                return true
            }
            if admitted { wake.signal() } else { done.resume(returning: nil) }
        }
        guard let verdict else { throw Busy() }
        return verdict
    }

    /// Checks waiting or running now.
    public var load: Int { state.withLock { $0.jobs.count + $0.running } }

    func run() {
        #if canImport(Glibc)
        // On Linux the nice value is a thread's own (setpriority(2), NOTES): `who` 0 is this
        // thread, which then yields to the request threads.
        _ = setpriority(__priority_which_t(PRIO_PROCESS.rawValue), 0, 10)
        #endif
        while true {
            wake.wait()
            guard
                let job = state.withLock({ s -> Job? in
                    guard !s.jobs.isEmpty else { return nil }
                    s.running += 1
                    return s.jobs.removeFirst()
                })
            else { continue }
            let ok = PasswordHash.verify(job.password, against: job.stored)
            state.withLock { $0.running -= 1 }
            job.done.resume(returning: ok)
        }
    }
}
