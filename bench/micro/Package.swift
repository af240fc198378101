// swift-tools-version:6.0
// Single-thread cost of signing one media token, the old way (jwt-kit's key collection) against
// MediaTokenSigner, with the bare ES256 signature as the floor, through jwt-kit's signer and
// through swift-crypto's P-256 key directly. Run from the repository root:
//   swift run -c release --package-path bench/micro
import PackageDescription

let package = Package(
    name: "TesseraMicroBench",
    platforms: [.macOS(.v15)],
    dependencies: [
        .package(name: "Tessera", path: "../.."),
        .package(url: "https://github.com/vapor/jwt-kit.git", exact: "5.8.0"),
        .package(url: "https://github.com/apple/swift-crypto.git", exact: "4.5.2"),
    ],
    targets: [
        .executableTarget(
            name: "mediatoken-micro",
            dependencies: [
                .product(name: "TesseraMediaToken", package: "Tessera"),
                .product(name: "JWTKit", package: "jwt-kit"),
                .product(name: "Crypto", package: "swift-crypto"),
            ]
        ),
    ],
    swiftLanguageModes: [.v6]
)
