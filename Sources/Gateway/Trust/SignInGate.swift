import Access
import Audit
import Foundation
import Logging
import ServiceLifecycle
import Synchronization

/// What a sign-in goes through before its password is hashed: the source address's rate, the
/// room left in the hashing queue, then the failure counts (`AccessStore.reserveAttempt`).
final class SignInGate: Sendable {
    let hasher: PasswordHasher
    let lockout: LockoutPolicy
    private let limits: Mutex<(rate: AddressRateLimiter, refusals: RefusalLedger)>

    init(_ config: SignInConfig) {
        hasher = PasswordHasher(threads: config.hashingThreads, queue: config.hashingQueue)
        lockout = config.lockout
        limits = Mutex((AddressRateLimiter(perMinute: config.perAddressPerMinute, burst: config.burst), RefusalLedger()))
    }

    var refusalWindow: TimeInterval { limits.withLock { $0.refusals.window } }

    enum Admission: Equatable {
        case admitted
        /// Refused for `wait` seconds; `audit` for the first refusal of the address in a window.
        case refused(wait: TimeInterval, audit: Bool)
    }

    func admit(_ address: String, now: Date) -> Admission {
        limits.withLock { l in
            guard let wait = l.rate.admit(address, now: now) else { return .admitted }
            return .refused(wait: wait, audit: l.refusals.refused(address, now: now))
        }
    }

    /// The audit entries of refusals not recorded one by one, for windows that are over.
    /// The summaries of the windows over at `now` (`all`: of every window, at shutdown).
    func refusalSummaries(now: Date, all: Bool = false) -> [AuditEvent] {
        let closing = all ? now.addingTimeInterval(refusalWindow) : now
        return limits.withLock { $0.refusals.summaries(now: closing) }.map { s in
            AuditEvent(
                time: now, principal: "unauthenticated", action: "login", result: "denied", source: s.address,
                detail: "sign-in rate limit of the source address: \(s.more) more attempts refused since \(s.since.formatted(.iso8601))")
        }
    }
}

/// Writes the summaries of rate-limited sign-ins once a minute.
struct SignInRefusalLog: Service {
    let gate: SignInGate
    let audit: AuditWriter
    let logger: Logger

    func run() async throws {
        // A graceful shutdown ends the wait; the windows still open are then written at once.
        await cancelWhenGracefulShutdown {
            while !Task.isCancelled {
                try? await Task.sleep(for: .seconds(gate.refusalWindow / 4))
                await write(all: false)
            }
        }
        await write(all: true)
    }

    func write(all: Bool) async {
        let events = gate.refusalSummaries(now: Date(), all: all)
        if !events.isEmpty { await audit.record(events, logger: logger) }
    }
}
