import Foundation
import Hummingbird
import TesseraCore

/// The OneAccess user SDK error catalogue (huawei.md A.3): `{error_code, error_msg}` with 400,
/// and 500 for `SDK.COMMON.1008` only; the message in Chinese (the default) or English (`X-L: en`).
///
/// Codes and message texts are bccastle's (the same family's public catalogue); which code a
/// proof failure gets is inferred (huawei.md A.3): undecryptable 1004, a session token that is
/// unknown, expired or ended 1005 with `session_token`, a stale timestamp 1005 with `timestamp`.
/// A disabled user gets `SDK.LOGIN.1002` (the account may not use the application): inferred.
enum SDKErrors {
    struct Entry: Equatable {
        let code: String
        let chinese: String
        let english: String
        var status: HTTPResponse.Status = .badRequest
    }

    static func entry(_ error: TesseraError, remainingAttempts: Int?, now: Date) -> Entry {
        switch error {
        case .invalidParameter(let parameter, .missing):
            Entry(code: "SDK.COMMON.1001", chinese: "参数\(name(of: parameter))不能为空", english: "Parameter \(name(of: parameter)) cannot be empty.")
        case .invalidParameter(let parameter, .stale):
            Entry(code: "SDK.COMMON.1005", chinese: "\(name(of: parameter))已失效", english: "The \(name(of: parameter)) has expired.")
        case .invalidParameter(let parameter, .notAllowed):
            Entry(code: "SDK.COMMON.1006", chinese: "参数\(name(of: parameter))错误", english: "Parameter \(name(of: parameter)) is incorrect.")
        case .invalidParameter(let parameter, _):
            Entry(code: "SDK.COMMON.1002", chinese: "参数\(name(of: parameter))格式错误", english: "Parameter \(name(of: parameter)) has an invalid format.")
        case .malformedRequest, .payloadTooLarge:
            Entry(code: "SDK.COMMON.1007", chinese: "参数类型错误", english: "A parameter has the wrong type.")
        case .invalidDeviceInfo:
            Entry(code: "SDK.COMMON.1003", chinese: "设备信息不完整", english: "The device information is incomplete.")
        case .undecryptableProof:
            Entry(code: "SDK.COMMON.1004", chinese: "签名解密错误", english: "The signature cannot be decrypted.")
        case .noSession, .sessionExpired:
            Entry(code: "SDK.COMMON.1005", chinese: "session_token已失效", english: "The session_token has expired or is invalid.")
        case .signIn(.replayedNonce):
            Entry(code: "SDK.COMMON.1006", chinese: "参数nonce错误", english: "Parameter nonce is incorrect.")
        case .unknownApplication, .invalidRequestor:
            Entry(code: "SDK.COMMON.1012", chinese: "X-client-id错误,未找到匹配的应用", english: "X-client-id is incorrect: no matching application.")
        case .signIn(.wrongCredentials):
            // The count where the call knows it (a login); without it (a password change's old
            // password), the sentence alone.
            Entry(code: "SDK.LOGIN.1005", chinese: "无效的用户名或密码。" + (remainingAttempts.map { " 剩余登录尝试次数:\($0)" } ?? ""),
                  english: "Invalid username or password." + (remainingAttempts.map { " Remaining attempts:\($0)" } ?? ""))
        case .signIn(.accountLocked(let until)):
            lockedEntry(seconds: max(0, Int(until.timeIntervalSince(now).rounded(.up))))
        case .signIn(.accountDisabled):
            Entry(code: "SDK.LOGIN.1002", chinese: "用户未授权", english: "The user is not authorized to use this application.")
        case .tooManyRequests:
            Entry(code: "SDK.COMMON.1008", chinese: "系统繁忙,请稍后再试", english: "The system is busy. Try again later.", status: .tooManyRequests)
        default:
            Entry(code: "SDK.COMMON.1008", chinese: "系统繁忙,请稍后再试", english: "The system is busy. Try again later.", status: .internalServerError)
        }
    }

    /// `SDK.LOGIN.1003`: locked, unlocking in so many minutes and seconds.
    static func lockedEntry(seconds: Int) -> Entry {
        let minutes = seconds / 60, rest = seconds % 60
        return Entry(code: "SDK.LOGIN.1003", chinese: "用户已被锁定,请\(minutes)分\(rest)秒后重试",
                     english: "The user is locked. Try again in \(minutes) minutes \(rest) seconds.")
    }

    static func response(_ error: TesseraError, english: Bool, remainingAttempts: Int? = nil, now: Date) -> Response {
        let entry = entry(error, remainingAttempts: remainingAttempts, now: now)
        return SDKCall.json(["error_code": entry.code, "error_msg": english ? entry.english : entry.chinese], status: entry.status)
    }

    /// A parameter's name on the wire.
    static func name(of parameter: TesseraError.Parameter) -> String {
        switch parameter {
        case .account: "user_name"
        case .password: "password"
        case .signature: "X-signature"
        case .timestamp: "timestamp"
        case .nonce: "nonce"
        case .appID: "X-client-id"
        case .token: "session_token"
        case .stateToken: "X-state-token"
        case .newPassword: "new_password"
        default: "\(parameter)"
        }
    }
}
