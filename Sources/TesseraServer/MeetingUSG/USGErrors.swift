import Foundation
import Hummingbird
import TesseraCore

/// The Meeting USG error catalogue: `{error_code, error_msg, request_id}` with the status Huawei
/// documents, the message in Chinese (the default) or English (`Accept-Language: en-US`).
///
/// Huawei's full USG catalogue is not public (huawei.md B.2). Sourced: `USG.000000004` with 401
/// for an invalid, expired or deleted token (Huawei's SDKs and Terraform); the statuses 400, 401,
/// 403, 412 (disabled), 423 (locked), 429 (flow control, which the SDKs retry) and 500. The other
/// codes are the client-SDK table's server codes with the `USG.` prefix (206010000 wrong account
/// or password, 206010007 account not usable, 412100010 locked, 206010025 App ID authentication
/// failed, 206010057 App ID authentication expired, 100000429 flow control); 000000001 (bad
/// parameter), 000000003 (forbidden) and 000000005 (server exception) are inferred.
enum USGErrors {
    struct Entry: Equatable {
        let status: HTTPResponse.Status
        let code: String
        let chinese: String
        let english: String
    }

    static func entry(_ error: TesseraError) -> Entry {
        switch error {
        case .noSession, .sessionExpired, .missingCredentials, .invalidAccessToken:
            Entry(status: .unauthorized, code: "USG.000000004", chinese: "Token无效或已过期", english: "The token is invalid or has expired.")
        case .signIn(.wrongCredentials):
            Entry(status: .unauthorized, code: "USG.206010000", chinese: "账号或密码错误", english: "Incorrect account or password.")
        case .signIn(.accountDisabled):
            Entry(status: .preconditionFailed, code: "USG.206010007", chinese: "账号已被禁用", english: "The account is disabled.")
        case .signIn(.accountLocked):
            Entry(status: .init(code: 423, reasonPhrase: "Locked"), code: "USG.412100010", chinese: "账号已被锁定,请稍后再试",
                  english: "The account is locked. Try again later.")
        case .signIn(.invalidSignature):
            Entry(status: .unauthorized, code: "USG.206010025", chinese: "App ID鉴权失败", english: "App ID authentication failed.")
        case .signIn(.replayedNonce):
            Entry(status: .unauthorized, code: "USG.206010025", chinese: "App ID鉴权失败:nonce已被使用",
                  english: "App ID authentication failed: the nonce was used before.")
        case .signIn(.signatureExpired):
            Entry(status: .unauthorized, code: "USG.206010057", chinese: "App ID鉴权已过期", english: "App ID authentication has expired.")
        case .invalidRequestor, .accessTokenForAnotherTenant:
            Entry(status: .forbidden, code: "USG.000000003", chinese: "无权限访问", english: "Insufficient permissions.")
        case .tooManyRequests:
            Entry(status: .tooManyRequests, code: "USG.100000429", chinese: "服务器流控", english: "Server flow control. Try again later.")
        case .payloadTooLarge, .invalidParameter, .malformedRequest:
            Entry(status: .badRequest, code: "USG.000000001", chinese: "参数错误", english: "Invalid parameter.")
        default:
            Entry(status: .internalServerError, code: "USG.000000005", chinese: "服务器异常", english: "Server exception.")
        }
    }

    /// The error's answer, with its request id in the body and the header.
    static func response(_ error: TesseraError, call: USGCall) -> Response {
        let entry = entry(error)
        var message = call.english ? entry.english : entry.chinese
        if case .invalidParameter(let parameter, let problem) = error {
            message += call.english ? " (\(name(of: parameter)): \(problem))" : "(\(name(of: parameter)):\(problem))"
        }
        return USGCall.json(USGError(error_code: entry.code, error_msg: message, request_id: call.requestID), status: entry.status,
                            requestID: call.requestID)
    }

    /// A parameter's name on the wire.
    static func name(of parameter: TesseraError.Parameter) -> String {
        switch parameter {
        case .account: "account"
        case .clientType: "clientType"
        case .token: "X-Access-Token"
        case .signature: "Authorization"
        case .nonce: "nonce"
        case .userID: "userId"
        case .expiry: "expireTime"
        case .appID: "appId"
        default: "\(parameter)"
        }
    }
}
