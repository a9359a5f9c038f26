import Foundation

/// What a failed sign-in costs the next attempts (pure: time is an input).
///
/// Failures are counted three ways, so that no single count is a lock anyone can trigger:
/// - per user *and* source address: guessing one account from one place is stopped fast and
///   for long (the attacker locks itself out, not the user signing in from elsewhere);
/// - per user, whatever the address: guessing one account from many places is slowed, but
///   the delay stays short, so nobody can keep a known user out for long;
/// - per source address, whatever the user: trying many names from one place is slowed.
///
/// Unknown and known user names are counted alike (no table of users is consulted), so the
/// answers do not tell which names exist. A delay is `base × 2^(failures − free)` seconds
/// after the last failure, capped; counts are forgotten `forgetAfter` seconds after their last
/// failure, and a successful sign-in clears the user's counts.
public struct LockoutPolicy: Sendable, Equatable, Decodable {
    public struct Rule: Sendable, Equatable, Decodable {
        /// Failures allowed before any delay.
        public var free: Int
        /// The first delay, seconds; each further failure doubles it.
        public var base: Double
        /// The longest delay, seconds.
        public var max: Double

        public init(free: Int, base: Double, max: Double) {
            self.free = free
            self.base = base
            self.max = max
        }

        public func delay(failures: Int) -> TimeInterval? {
            guard failures >= free else { return nil }
            return Swift.min(max, base * pow(2, Double(Swift.min(failures - free, 40))))
        }
    }

    public var userAtAddress = Rule(free: 5, base: 30, max: 900)
    public var user = Rule(free: 20, base: 1, max: 300)
    public var address = Rule(free: 50, base: 1, max: 900)
    public var forgetAfter: TimeInterval = 86_400

    public init() {}

    enum CodingKeys: String, CodingKey {
        case userAtAddress = "user_at_address", user, address, forgetAfter = "forget_after_seconds"
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let d = LockoutPolicy()
        userAtAddress = try c.decodeIfPresent(Rule.self, forKey: .userAtAddress) ?? d.userAtAddress
        user = try c.decodeIfPresent(Rule.self, forKey: .user) ?? d.user
        address = try c.decodeIfPresent(Rule.self, forKey: .address) ?? d.address
        forgetAfter = try c.decodeIfPresent(Double.self, forKey: .forgetAfter) ?? d.forgetAfter
    }

    /// What the failures of a user name from an address are counted under.
    public static func subjects(user: String, address: String) -> [Subject] {
        [.userAtAddress(user, address), .user(user), .address(address)]
    }

    public func rule(_ s: Subject) -> Rule {
        switch s {
        case .userAtAddress: userAtAddress
        case .user: user
        case .address: address
        }
    }

    /// Until when `s` may not try again, given its count; nil when it may now.
    public func lockedUntil(_ s: Subject, _ count: FailureCount, now: Date) -> Date? {
        guard now.timeIntervalSince(count.last) < forgetAfter, let wait = rule(s).delay(failures: count.failures) else { return nil }
        let until = count.last.addingTimeInterval(wait)
        return until > now ? until : nil
    }

    /// The count as it stands now: forgotten once old enough.
    public func current(_ count: FailureCount?, now: Date) -> FailureCount? {
        guard let count, now.timeIntervalSince(count.last) < forgetAfter else { return nil }
        return count
    }

    /// Who failures are counted under; `key` is how the store files it.
    public enum Subject: Sendable, Hashable {
        case userAtAddress(String, String)
        case user(String)
        case address(String)

        /// Why attempts wait, for the audit entry (names no address).
        public var reason: String {
            switch self {
            case .userAtAddress: "failures of this user from this address"
            case .user: "failures of this user from any address"
            case .address: "failures from this address"
            }
        }

        /// The user name's length goes first, so no name and address run into another pair.
        public var key: String {
            switch self {
            case .userAtAddress(let u, let a): "ua:\(u.utf8.count):" + u + " " + a
            case .user(let u): "u:" + u
            case .address(let a): "a:" + a
            }
        }
    }
}

public struct FailureCount: Sendable, Equatable {
    public var failures: Int
    public var last: Date

    public init(failures: Int, last: Date) {
        self.failures = failures
        self.last = last
    }
}

/// Sign-ins per source address: a token bucket (pure; time is an input), checked before any
/// password is hashed, so a flood from one address costs a dictionary lookup per request.
public struct AddressRateLimiter: Sendable {
    /// Attempts an address may make at once, and how many it regains per minute.
    public let burst: Double
    public let perMinute: Double
    var buckets: [String: (tokens: Double, at: Date)] = [:]
    /// Addresses remembered at most (a flood of addresses cannot grow memory without bound:
    /// full buckets, which carry no information, are dropped first).
    let capacity: Int

    public init(perMinute: Double, burst: Double, capacity: Int = 100_000) {
        self.perMinute = perMinute
        self.burst = burst
        self.capacity = capacity
    }

    /// Nil when the attempt may go ahead (and is counted), else how long to wait, seconds.
    public mutating func admit(_ address: String, now: Date) -> TimeInterval? {
        var (tokens, at) = buckets[address] ?? (burst, now)
        tokens = min(burst, tokens + max(0, now.timeIntervalSince(at)) * perMinute / 60)
        guard tokens >= 1 else {
            buckets[address] = (tokens, now)
            return perMinute > 0 ? (1 - tokens) * 60 / perMinute : 60
        }
        if buckets.count >= capacity, buckets[address] == nil { evict(now: now) }
        buckets[address] = (tokens - 1, now)
        return nil
    }

    mutating func evict(now: Date) {
        let refill = perMinute > 0 ? burst * 60 / perMinute : .infinity
        buckets = buckets.filter { now.timeIntervalSince($0.value.at) < refill }
        if buckets.count >= capacity { buckets.removeAll() }
    }
}

/// Sign-ins refused by the per-address rate limit, for the audit log (pure; time is an input):
/// the first refusal of an address in a window is an entry of its own, the ones that follow
/// in that window one entry together when it ends. A flood of refused attempts then costs the
/// log two entries per address and window, not one per request (which would fill the disk).
public struct RefusalLedger: Sendable {
    public let window: TimeInterval
    var open: [String: (first: Date, more: Int)] = [:]
    var ended: [Summary] = []
    let capacity: Int

    public struct Summary: Sendable, Equatable {
        public var address: String
        public var since: Date
        /// Refusals after the first one, which had an entry of its own.
        public var more: Int
    }

    public init(window: TimeInterval = 60, capacity: Int = 100_000) {
        self.window = window
        self.capacity = capacity
    }

    /// Records a refusal; true when it is the first of its address in the window (audit it).
    public mutating func refused(_ address: String, now: Date) -> Bool {
        if let w = open[address] {
            if now.timeIntervalSince(w.first) < window {
                open[address]?.more += 1
                return false
            }
            if w.more > 0 { ended.append(Summary(address: address, since: w.first, more: w.more)) }
        }
        if open.count >= capacity {
            let all = close { _ in true }
            ended += all
        }
        open[address] = (now, 0)
        return true
    }

    /// The windows over at `now` that had refusals after their first: one entry each.
    public mutating func summaries(now: Date) -> [Summary] {
        let window = window
        let over = close { now.timeIntervalSince($0.first) >= window }
        defer { ended = [] }
        return ended + over
    }

    private mutating func close(where over: ((first: Date, more: Int)) -> Bool) -> [Summary] {
        var out: [Summary] = []
        for (address, w) in open where over(w) {
            if w.more > 0 { out.append(Summary(address: address, since: w.first, more: w.more)) }
        }
        open = open.filter { !over($0.value) }
        return out.sorted { $0.since < $1.since }
    }
}
