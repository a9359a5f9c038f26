import Foundation
import NIOCore
import NIOPosix

/// A libpq client tool (`psql`, `pg_dump`) run as a child process, its output read in chunks
/// on NIO's thread pool so that no cooperative thread blocks on the pipe.
struct ChildProcess {
    let process = Process()
    let stdout = Pipe()
    let stderr = Pipe()
    let name: String

    init(tool: String, arguments: [String], environment: [String: String]) throws(CDCError) {
        name = tool
        guard let path = Self.locate(tool) else {
            throw CDCError("\(tool) not found: install the PostgreSQL client tools (Debian: apt-get install postgresql-client-15)")
        }
        process.executableURL = URL(fileURLWithPath: path)
        process.arguments = arguments
        process.environment = environment
        process.standardInput = FileHandle.nullDevice
        process.standardOutput = stdout
        process.standardError = stderr
        do { try process.run() } catch { throw CDCError("cannot start \(tool): \(error)") }
    }

    /// Prefers the newest PostgreSQL's tools (Debian installs them per version), then PATH.
    static func locate(_ tool: String) -> String? {
        let fm = FileManager.default
        let versions = ((try? fm.contentsOfDirectory(atPath: "/usr/lib/postgresql")) ?? []).compactMap(Int.init).sorted(by: >)
        for v in versions where fm.isExecutableFile(atPath: "/usr/lib/postgresql/\(v)/bin/\(tool)") {
            return "/usr/lib/postgresql/\(v)/bin/\(tool)"
        }
        for dir in (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin").split(separator: ":")
        where fm.isExecutableFile(atPath: "\(dir)/\(tool)") {
            return "\(dir)/\(tool)"
        }
        return nil
    }

    /// The next chunk of standard output, nil at its end.
    func read(max: Int = 1 << 20) async throws(CDCError) -> ByteBuffer? {
        let fd = stdout.fileHandleForReading.fileDescriptor
        do {
            return try await NIOThreadPool.singleton.runIfActive { () throws -> ByteBuffer? in
                var buffer = ByteBufferAllocator().buffer(capacity: max)
                while true {
                    let n = buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: max) { ptr in
                        Glibc.read(fd, ptr.baseAddress, ptr.count)
                    }
                    if n > 0 { return buffer }
                    if n == 0 { return nil }
                    if errno != EINTR { throw CDCError("reading from the child process: errno \(errno)") }
                }
            }
        } catch let e as CDCError {
            throw e
        } catch {
            throw CDCError("reading from \(name): \(error)")
        }
    }

    /// Waits for the exit; a non-zero status is an error carrying the tool's message.
    func finish() async throws(CDCError) {
        let p = process
        let status = await withCheckedContinuation { (c: CheckedContinuation<Int32, Never>) in
            NIOThreadPool.singleton.submit { _ in
                p.waitUntilExit()
                c.resume(returning: p.terminationStatus)
            }
        }
        guard status == 0 else {
            let message = String(decoding: stderr.fileHandleForReading.availableData, as: UTF8.self)
                .trimmingCharacters(in: .whitespacesAndNewlines)
            throw CDCError("\(name) failed (exit \(status)): \(message.isEmpty ? "no message" : message)")
        }
    }

    func kill() {
        if process.isRunning { Glibc.kill(process.processIdentifier, SIGKILL) }
    }
}
