import Datasets

/// A token bucket of bytes per second shared by the copies of one backfill: each copy takes
/// what it is about to send, and waits when the bucket is empty.
public actor RateLimiter: BandwidthLimiting {
    private let rate: Double
    private let burst: Double
    private var tokens: Double
    private var last: ContinuousClock.Instant

    /// `bytesPerSecond`, with a burst of one second's worth (at least 1 MiB).
    public init(bytesPerSecond: Int64) {
        rate = Double(max(1, bytesPerSecond))
        burst = max(rate, 1_048_576)
        tokens = burst
        last = .now
    }

    /// Waits until `bytes` may go.
    public func take(_ bytes: Int) async throws {
        refill()
        tokens -= Double(bytes)
        if tokens < 0 {
            let wait = -tokens / rate
            try await Task.sleep(for: .seconds(wait))
        }
    }

    private func refill() {
        let now = ContinuousClock.now
        let elapsed = now - last
        last = now
        let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
        tokens = min(burst, tokens + seconds * rate)
    }
}
