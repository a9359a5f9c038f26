import Replication
import Testing

/// Retries of the replication journal: exponential, jittered, capped, then a dead letter.
@Suite struct BackoffTests {
    @Test func backoffGrowsCapsAndDeadLetters() {
        let b = Backoff(base: 0.5, cap: 30, maxAttempts: 12)
        #expect(b.delay(afterAttempts: 1, jitter: 1) == 0.5)
        #expect(b.delay(afterAttempts: 4, jitter: 1) == 4)
        #expect(b.delay(afterAttempts: 20, jitter: 1) == 30)
        #expect(b.delay(afterAttempts: 20, jitter: 0) == 15)
        #expect(!b.isDead(afterAttempts: 11) && b.isDead(afterAttempts: 12))
    }
}
