import Catalog
import Datasets
import Foundation
import Storage
import Testing

@Suite("Reconciling interrupted in-place writes")
struct ReconcilerTests {
    static func row(_ backendETag: String?) -> ObjectRecord {
        ObjectRecord(
            bucket: "b", key: "k", size: 1, etag: "\"e\"", lastModified: Date(), headers: .init(), checksum: nil, checksumType: nil,
            blob: "p/k", partsCount: nil, backendETag: backendETag)
    }

    @Test("the catalog is made to describe what the backend holds")
    func decisions() {
        let stored = StoredObject(name: "p/k", size: 1, etag: "\"b1\"")
        #expect(Reconciler.decide(recorded: nil, stored: nil) == .consistent)
        #expect(Reconciler.decide(recorded: Self.row("\"b1\""), stored: stored) == .consistent)
        #expect(Reconciler.decide(recorded: Self.row("\"b0\""), stored: stored) == .removedUnacknowledged)
        #expect(Reconciler.decide(recorded: nil, stored: stored) == .removedUnacknowledged)
        #expect(Reconciler.decide(recorded: Self.row("\"b1\""), stored: nil) == .finishedDelete)
        // A version kept aside: the object under the key is only its shadow, made a copy again.
        for shadow in [nil, stored] {
            #expect(Reconciler.decide(recorded: Self.row("\"b0\""), stored: shadow, relocated: true) == .restoredShadow)
        }
        #expect(Reconciler.decide(recorded: nil, stored: stored, relocated: true) == .removedUnacknowledged)
    }
}
