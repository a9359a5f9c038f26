import AsyncHTTPClient
import Catalog
import Foundation
import NIOHTTP1
import Testing

@testable import Storage

@Suite("Azure Shared Key and block ids")
struct AzureTests {
    /// Azurite's public development key.
    static let key = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="

    @Test("signature matches the one the official azure-storage-blob SDK computes for the same request")
    func sdkVector() throws {
        // Computed with azure-storage-blob 12.31.1's SharedKeyCredentialPolicy for
        // PUT http://127.0.0.1:10000/devstoreaccount1/data/dir/caf%C3%A9%20x.csv?comp=block&blockid=YWJjZC0wMDAwMDE%3D
        let signer = try AzureSharedKey(account: "devstoreaccount1", base64Key: Self.key)
        let auth = signer.authorization(
            method: "PUT", path: "/devstoreaccount1/data/dir/caf%C3%A9%20x.csv",
            query: [("comp", "block"), ("blockid", "YWJjZC0wMDAwMDE=")],
            headers: [
                ("x-ms-version", "2023-11-03"), ("x-ms-date", "Mon, 23 Nov 2026 10:00:00 GMT"), ("content-length", "5"),
                ("content-md5", "XUFAKrxLKna5cZ2REBfFkg=="), ("x-ms-meta-project", "p1"),
            ])
        #expect(auth == "SharedKey devstoreaccount1:pRHBUwHMIktKpw+t6PRAMcNkyt6YUmMtKROI6NjLg7E=")
    }

    @Test("string to sign: empty Content-Length for 0, sorted x-ms headers and query")
    func stringToSign() {
        let text = AzureSharedKey.stringToSign(
            account: "acct", method: "GET", path: "/c",
            query: [("restype", "container"), ("comp", "list"), ("Prefix", "a/")],
            headers: [("x-ms-version", "v"), ("content-length", "0"), ("x-ms-date", "d"), ("range", "bytes=0-1")])
        #expect(text == "GET\n\n\n\n\n\n\n\n\n\n\nbytes=0-1\nx-ms-date:d\nx-ms-version:v\n/acct/c\ncomp:list\nprefix:a/\nrestype:container")
    }

    @Test("a key that is not base64 is refused")
    func badKey() {
        #expect(throws: StoreError.self) { try AzureSharedKey(account: "a", base64Key: "not base64!") }
    }

    @Test("block ids of one upload have one length; metadata names Azure refuses are left out")
    func blockIDsAndMetadata() {
        let ids = [1, 42, 50_000].map { AzureBlobStore.blockID(upload: "0123456789abcdef", number: $0) }
        #expect(Set(ids.map(\.count)).count == 1)
        #expect(Set(ids).count == 3)
        let h = AzureBlobStore.attributeHeaders(
            BlobAttributes(contentType: "text/csv", metadata: ["ok_name": "v", "has-dash": "v", "9lives": "v", "x": "é"]))
        #expect(h.map(\.0) == ["x-ms-blob-content-type", "x-ms-meta-ok_name"])
    }

    @Test("account from the endpoint, SAS token appended, no Authorization with a SAS")
    func endpoints() throws {
        #expect(AzureEndpoint.account(in: "https://prodhealth.blob.core.windows.net") == "prodhealth")
        #expect(AzureEndpoint.account(in: "http://127.0.0.1:10000/devstoreaccount1") == "devstoreaccount1")
        #expect(AzureEndpoint.account(in: "http://127.0.0.1:10000") == nil)
        let transport = HTTPTransport(settings: HTTPSettings())
        defer { Task { await transport.shutdown() } }
        let client = try AzureClient(
            endpoint: AzureEndpoint(url: "http://127.0.0.1:1/acct/", account: "acct", credential: .sas("?sv=2023-11-03&sig=abc")),
            transport: transport)
        let req = client.request(.GET, container: "c", blob: "a b/c", query: [("comp", "list")])
        #expect(req.url == "http://127.0.0.1:1/acct/c/a%20b/c?comp=list&sv=2023-11-03&sig=abc")
        #expect(req.headers["authorization"].isEmpty)
        #expect(req.headers.first(name: "x-ms-version") == AzureClient.version)
        #expect(client.url(container: "c", blob: "k") == "http://127.0.0.1:1/acct/c/k?sv=2023-11-03&sig=abc")
    }
}
