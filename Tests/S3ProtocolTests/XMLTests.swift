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
        let c = try XMLRequests.completeMultipartUpload(Array(xml.utf8))
        #expect(c.parts.count == 2)
        #expect(c.parts[0].etag == "\"a54357aff0632cce46d942af68356b38\"")
        #expect(c.parts[0].checksums[.crc32] == "DUoRhQ==")
        #expect(c.parts[1].partNumber == 2)
    }

    @Test("Delete keeps keys byte for byte (spaces, entities, Unicode) and reads Quiet")
    func delete() throws {
        let xml =
            "<Delete><Quiet>true</Quiet><Object><Key> a&amp;b &lt;é&gt; "
            + "</Key></Object><Object><Key>x/y</Key><VersionId>null</VersionId></Object></Delete>"
        let d = try XMLRequests.delete(Array(xml.utf8))
        #expect(d.quiet)
        #expect(d.objects.map(\.key) == [" a&b <é> ", "x/y"])
    }

    @Test(
        "malformed, wrong-root and oversized bodies are MalformedXML / MaxMessageLengthExceeded",
        arguments: [
            "<Delete><Object><Key>a</Key></Object>", "<NotDelete><Object><Key>a</Key></Object></NotDelete>", "", "not xml",
            "<Delete><Object><Key>a</Key></Object></Delete><Extra/>",
            "<CompleteMultipartUpload><Part><PartNumber>x</PartNumber></Part></CompleteMultipartUpload>",
            "<Delete><Object><VersionId>1</VersionId></Object></Delete>",
        ])
    func malformed(_ text: String) {
        #expect(throws: S3Error.self) {
            if text.contains("CompleteMultipartUpload") {
                _ = try XMLRequests.completeMultipartUpload(Array(text.utf8))
            } else {
                _ = try XMLRequests.delete(Array(text.utf8))
            }
        }
        let big = [UInt8](repeating: 32, count: XMLRequests.maxBodySize + 1)
        #expect(throws: S3Error.self) { _ = try XMLRequests.delete(big) }
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

@Suite("XML tree parser")
struct XMLTreeTests {
    @Test("CDATA, comments, numeric references, attributes, prefixes")
    func features() throws {
        let x = try XMLTree.parse(
            Array("<?xml version='1.0'?><!-- c --><s3:Delete xmlns:s3=\"u\"><Object><Key><![CDATA[a<b]]>&#233;&#x41;</Key></Object></s3:Delete>".utf8)
        )
        #expect(x.localName == "Delete")
        #expect(x.child("Object")?.child("Key")?.text == "a<béA")
    }

    @Test(
        "refused: DTDs (no entity expansion), mismatched tags, deep nesting, NUL references, unknown entities",
        arguments: [
            "<!DOCTYPE d [<!ENTITY x \"y\">]><Delete/>", "<a><b></a></b>", String(repeating: "<a>", count: 40) + String(repeating: "</a>", count: 40),
            "<a>&#0;</a>", "<a>&bogus;</a>", "<a x=1/>", "<a>", "<a></a>junk",
        ])
    func refused(_ text: String) {
        #expect(throws: XMLTree.ParseError.self) { _ = try XMLTree.parse(Array(text.utf8)) }
    }
}
