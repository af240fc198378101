import TesseraCore
import TesseraServices

/// v1's parameters by what they mean, under v1's names (``V1Errors/name(of:)``).
extension RequestParameters {
    /// A present, non-empty value of at most `maxLength` characters with no control characters.
    func required(_ parameter: TesseraError.Parameter, maxLength: Int = 256) throws(TesseraError) -> String {
        guard let value = try optional(parameter, maxLength: maxLength) else { throw .invalidParameter(parameter, .missing) }
        return value
    }

    func optional(_ parameter: TesseraError.Parameter, maxLength: Int = 256) throws(TesseraError) -> String? {
        try optional(V1Errors.name(of: parameter), parameter: parameter, maxLength: maxLength)
    }
}
