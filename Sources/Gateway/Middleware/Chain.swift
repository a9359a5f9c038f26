import Hummingbird

/// A middleware in front of the responder it hands requests to (Hummingbird's router does
/// this for routes; the S3 API dispatches on its own, so the front door chains them itself).
struct Chain<M: RouterMiddleware, Next: HTTPResponder>: HTTPResponder where M.Context == Next.Context {
    let middleware: M
    let next: Next

    init(_ middleware: M, _ next: Next) {
        self.middleware = middleware
        self.next = next
    }

    func respond(to request: Request, context: M.Context) async throws -> Response {
        try await middleware.handle(request, context: context) { request, context in
            try await next.respond(to: request, context: context)
        }
    }
}
