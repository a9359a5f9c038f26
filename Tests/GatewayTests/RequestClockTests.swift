import Testing

@testable import Gateway

@Suite("Request deadlines: header timeout and body minimum rate")
struct RequestClockTests {
    var limits: HTTPLimits {
        var l = HTTPLimits()
        l.headerTimeout = 10
        l.bodyMinBytesPerSecond = 100
        l.bodyRateWindow = 20
        return l
    }

    @Test("headers must be complete within the timeout from a request's first byte; idle time does not count")
    func headers() {
        var clock = RequestClock(limits: limits, now: 0)
        #expect(clock.tick(now: 9) == .none)
        #expect(clock.tick(now: 10) == .close(.headerTimeout))
        clock = RequestClock(limits: limits, now: 0)
        clock.headReceived(expectsContinue: false, now: 1)
        clock.requestEnded()
        clock.responseEnded()
        #expect(clock.tick(now: 500) == .none, "an idle keep-alive connection owes nothing")
        clock.bytesArrived(10, now: 500)
        #expect(clock.tick(now: 509) == .none)
        #expect(clock.tick(now: 510.5) == .close(.headerTimeout))
    }

    @Test("a body below the minimum rate over a window of waiting is cut off; time the gateway does not read is not counted")
    func body() {
        var clock = RequestClock(limits: limits, now: 0)
        clock.headReceived(expectsContinue: false, now: 0)
        clock.bytesArrived(1000, now: 10)  // 100 B/s over the first 10 s
        clock.readRequested(now: 10)
        #expect(clock.tick(now: 19) == .none)
        clock.bytesArrived(1000, now: 20)
        #expect(clock.tick(now: 20) == .none, "2000 bytes in 20 s is the minimum")
        // Back-pressure: no read asked for 1000 s, then the client is prompt again.
        #expect(clock.tick(now: 1020) == .none)
        clock.readRequested(now: 1020)
        clock.bytesArrived(10, now: 1039)
        clock.readRequested(now: 1039)
        #expect(clock.tick(now: 1040) == .close(.slowBody))
    }

    @Test("a client waiting for 100 Continue owes nothing until it is sent")
    func expectContinue() {
        var clock = RequestClock(limits: limits, now: 0)
        clock.headReceived(expectsContinue: true, now: 0)
        #expect(clock.tick(now: 600) == .none, "the gateway may wait for the key's lock first")
        clock.continueSent(now: 600)
        #expect(clock.tick(now: 615) == .none)
        #expect(clock.tick(now: 620) == .close(.slowBody))
    }
}
