import Testing
@testable import S3Protocol

@Suite("XML request bodies")
struct XMLTests {
    @Test("CompleteMultipartUpload with namespace, entities and checksums")
    func complete() throws {
        let xml = """
        <?xml version="1.0" encoding="UTF-8"?>
        <CompleteMultipartUpload xmlns="http://s3.amazonaws.com/doc/2006-03-01/">
          <Part><ETag>&quot;a54357aff0632cce46d942af68356b38&quot;</ETag><PartNumber>1</PartNumber><ChecksumCRC32>DUoRhQ==</ChecksumCRC32></Part>
          <Part><PartNumber>2</PartNumber><ETag>"0c78aef83f66abc1fa1e8477f296d394"</ETag></Part>
        </CompleteMultipartUpload>
        """
        let c = try XMLRequests.decode(XMLRequests.CompleteMultipartUpload.self, root: "CompleteMultipartUpload", from: Array(xml.utf8))
        #expect(c.parts.count == 2)
        #expect(c.parts[0].etag == "\"a54357aff0632cce46d942af68356b38\"")
        #expect(c.parts[0].checksums[.crc32] == "DUoRhQ==")
        #expect(c.parts[1].partNumber == 2)
    }

    @Test("Delete keeps keys byte for byte (spaces, entities, Unicode) and reads Quiet")
    func delete() throws {
        let xml = "<Delete><Quiet>true</Quiet><Object><Key> a&amp;b &lt;é&gt; </Key></Object><Object><Key>x/y</Key><VersionId>null</VersionId></Object></Delete>"
        let d = try XMLRequests.decode(XMLRequests.Delete.self, root: "Delete", from: Array(xml.utf8))
        #expect(d.quiet)
        #expect(d.objects.map(\.key) == [" a&b <é> ", "x/y"])
    }

    @Test("malformed, wrong-root and oversized bodies are MalformedXML / MaxMessageLengthExceeded", arguments: [
        "<Delete><Object><Key>a</Key></Object>", "<NotDelete><Object><Key>a</Key></Object></NotDelete>", "", "not xml",
        "<Delete><Object><Key>a</Key></Object></Delete><Extra/>", "<CompleteMultipartUpload><Part><PartNumber>x</PartNumber></Part></CompleteMultipartUpload>",
    ])
    func malformed(_ text: String) {
        #expect(throws: S3Error.self) {
            if text.contains("CompleteMultipartUpload") {
                _ = try XMLRequests.decode(XMLRequests.CompleteMultipartUpload.self, root: "CompleteMultipartUpload", from: Array(text.utf8))
            } else {
                _ = try XMLRequests.decode(XMLRequests.Delete.self, root: "Delete", from: Array(text.utf8))
            }
        }
        let big = [UInt8](repeating: 32, count: XMLRequests.maxBodySize + 1)
        #expect(throws: S3Error.self) { _ = try XMLRequests.decode(XMLRequests.Delete.self, root: "Delete", from: big) }
    }

    @Test("error documents escape what they carry")
    func errorXML() {
        let x = S3Error(.noSuchKey, "The specified key does not exist.", details: [("Key", "a<b>&\"c\"")]).xml(resource: "/b/a<b>", requestID: "R1")
        #expect(x.contains("<Code>NoSuchKey</Code>"))
        #expect(x.contains("<Key>a&lt;b&gt;&amp;&quot;c&quot;</Key>"))
        #expect(x.contains("<Resource>/b/a&lt;b&gt;</Resource>"))
        #expect(x.contains("<RequestId>R1</RequestId>"))
    }
}
