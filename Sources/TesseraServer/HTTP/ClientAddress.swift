import Hummingbird
import TesseraServices

extension Services {
    /// The client's address: the TCP peer, or `X-Forwarded-For` from a trusted proxy.
    func clientAddress(_ request: Request, _ context: TesseraRequestContext) -> String {
        configuration.trustedProxies.clientAddress(peer: context.peerAddress, forwardedFor: request.headers.value(.forwardedFor))
    }
}
