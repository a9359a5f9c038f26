import Foundation

/// Retries with "full jitter" exponential backoff (each wait uniform in [0, min(cap, base·2ⁿ)]),
/// and only on `StoreError.unavailable`: a refused request (4xx) is never retried.
public struct RetryPolicy: Sendable {
    public var attempts: Int
    public var baseDelay: Duration
    public var maxDelay: Duration

    public init(attempts: Int = 4, baseDelay: Duration = .milliseconds(100), maxDelay: Duration = .seconds(2)) {
        self.attempts = max(1, attempts)
        self.baseDelay = baseDelay
        self.maxDelay = maxDelay
    }

    /// The wait before retry number `retry` (0-based), drawn from `random` in [0, 1).
    public func delay(beforeRetry retry: Int, random: Double) -> Duration {
        let ceiling = min(maxDelay, baseDelay * (1 << min(retry, 20)))
        return ceiling * random
    }

    public func run<T: Sendable>(_ operation: @Sendable (_ attempt: Int) async throws -> T) async throws -> T {
        var attempt = 0
        while true {
            do {
                return try await operation(attempt)
            } catch let error as StoreError {
                guard case .unavailable = error, attempt + 1 < attempts else { throw error }
                try await Task.sleep(for: delay(beforeRetry: attempt, random: Double.random(in: 0..<1)))
                attempt += 1
            }
        }
    }
}
