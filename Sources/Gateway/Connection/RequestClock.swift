/// How long a connection's client may take to send a request (pure; time, in seconds on a
/// monotonic clock, is an input; the caller performs the action).
///
/// - Headers: from the first byte of a request (or the connection's start) to the end of its
///   headers, at most `headerTimeout`. An idle keep-alive connection is not waiting for
///   headers: that is the idle timeout's business.
/// - Body: over each window of `bodyRateWindow` seconds *spent waiting for the client* (a read
///   asked of the socket and not yet answered), at least `bodyMinBytesPerSecond` on average.
///   Time the gateway itself stops reading (back-pressure from a slow backend) does not count
///   against the client.
struct RequestClock: Sendable {
    enum Action: Equatable {
        case none
        case close(Reason)
    }

    enum Reason: String, Sendable {
        case headerTimeout = "header_timeout"
        case slowBody = "slow_body"
    }

    enum Phase: Equatable {
        /// Between requests: nothing is owed.
        case idle
        /// A request has begun and its headers are not complete.
        case head(since: Double)
        /// Headers complete, and the client waits for `100 Continue` before its body: the
        /// gateway's turn (it may first wait for a lock on the key).
        case continuePending
        /// Headers complete, body owed.
        case body(Window)
        /// The request is complete; the response is the gateway's to send.
        case answering
    }

    struct Window: Equatable {
        var bytes = 0
        var waited: Double = 0
        /// When the outstanding read was asked for, if one is.
        var waitingSince: Double?
    }

    let limits: HTTPLimits
    private(set) var phase: Phase

    init(limits: HTTPLimits, now: Double) {
        self.limits = limits
        phase = .head(since: now)
    }

    /// Bytes came from the client (before any decoding).
    mutating func bytesArrived(_ count: Int, now: Double) {
        switch phase {
        case .idle:
            phase = .head(since: now)
        case .body(var w):
            w.bytes += count
            if let since = w.waitingSince {
                w.waited += now - since
                w.waitingSince = nil
            }
            phase = .body(w)
        case .head, .answering, .continuePending:
            break
        }
    }

    /// The gateway asked the socket for more bytes.
    mutating func readRequested(now: Double) {
        guard case .body(var w) = phase, w.waitingSince == nil else { return }
        w.waitingSince = now
        phase = .body(w)
    }

    /// Headers complete: the body is owed until `requestEnded` (at once for a request without).
    mutating func headReceived(expectsContinue: Bool, now: Double) {
        // The decoder is waiting for more bytes, so a read is outstanding: the clock starts now.
        phase = expectsContinue ? .continuePending : .body(Window(waitingSince: now))
    }

    /// `100 Continue` went out: the body is owed from now.
    mutating func continueSent(now: Double) {
        if phase == .continuePending { phase = .body(Window(waitingSince: now)) }
    }

    mutating func requestEnded() {
        phase = .answering
    }

    mutating func responseEnded() {
        if phase == .answering { phase = .idle }
    }

    mutating func tick(now: Double) -> Action {
        switch phase {
        case .idle, .answering, .continuePending:
            return .none
        case .head(let since):
            return now - since >= limits.headerTimeout ? .close(.headerTimeout) : .none
        case .body(var w):
            let waited = w.waited + (w.waitingSince.map { now - $0 } ?? 0)
            guard waited >= limits.bodyRateWindow else { return .none }
            if Double(w.bytes) < limits.bodyMinBytesPerSecond * waited { return .close(.slowBody) }
            w = Window(waitingSince: w.waitingSince == nil ? nil : now)
            phase = .body(w)
            return .none
        }
    }

    /// How often to tick: often enough to act within a quarter of the shortest limit.
    var tickInterval: Double {
        max(0.25, min(limits.headerTimeout, limits.bodyRateWindow) / 4)
    }
}
