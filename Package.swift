// swift-tools-version:6.0
import PackageDescription

let package = Package(
    name: "Tessera",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "tessera", targets: ["tessera"]),
        .library(name: "TesseraCore", targets: ["TesseraCore"]),
        .library(name: "TesseraMediaToken", targets: ["TesseraMediaToken"]),
    ],
    dependencies: [
        .package(url: "https://github.com/hummingbird-project/hummingbird.git", exact: "2.28.1"),
        .package(url: "https://github.com/hummingbird-project/swift-mustache.git", exact: "2.1.1"),
        .package(url: "https://github.com/groue/GRDB.swift.git", exact: "7.10.0"),
        .package(url: "https://github.com/apple/swift-crypto.git", exact: "4.5.2"),
        .package(url: "https://github.com/vapor/jwt-kit.git", exact: "5.8.0"),
        .package(url: "https://github.com/swift-extras/swift-extras-base64.git", exact: "1.2.0"),
        .package(url: "https://github.com/apple/swift-argument-parser.git", exact: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log.git", exact: "1.16.2"),
        .package(url: "https://github.com/jpsim/Yams.git", exact: "6.2.2"),
        .package(url: "https://github.com/CoreOffice/XMLCoder.git", exact: "0.18.2"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", exact: "2.13.0"),
        .package(url: "https://github.com/vapor/postgres-nio.git", exact: "1.33.2"),
        .package(url: "https://github.com/apple/swift-nio-ssl.git", exact: "2.37.6"),
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-nio-extras.git", from: "1.35.2"),
        .package(url: "https://github.com/apple/swift-metrics.git", exact: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus.git", exact: "2.4.1"),
        .package(url: "https://github.com/swift-server/async-http-client.git", exact: "1.37.0"),
        .package(url: "https://github.com/adam-fowler/compress-nio.git", exact: "1.5.0"),
        .package(url: "https://github.com/swiftlang/swift-subprocess.git", exact: "1.0.2"),
    ],
    targets: [
        .target(
            name: "TesseraCore",
            dependencies: [
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "_CryptoExtras", package: "swift-crypto"),
            ]
        ),
        // The store protocols (one per aggregate) and what every backend shares.
        .target(
            name: "TesseraStore",
            dependencies: ["TesseraCore", .product(name: "CoreMetrics", package: "swift-metrics")]
        ),
        // The embedded store: SQLite through GRDB, with group commit.
        .target(
            name: "TesseraSQLite",
            dependencies: ["TesseraCore", "TesseraStore", .product(name: "GRDB", package: "GRDB.swift")]
        ),
        // The shared store: PostgreSQL through PostgresNIO, with the peer-instance machinery.
        .target(
            name: "TesseraPostgres",
            dependencies: [
                "TesseraCore", "TesseraStore",
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .target(
            name: "TesseraMediaToken",
            dependencies: [
                .product(name: "JWTKit", package: "jwt-kit"),
                .product(name: "ExtrasBase64", package: "swift-extras-base64"),
            ]
        ),
        // The operations that combine core rules and the store (sign in, authorize, revoke, log
        // out), with the configuration they run under: no HTTP type.
        // OpenSSL's libcrypto, for RSA-OAEP with SHA-256 and MGF1-SHA-1 only (swift-crypto offers
        // MGF1 with the OAEP hash alone); .ci/run installs libssl-dev.
        .systemLibrary(name: "COpenSSL", pkgConfig: "libcrypto", providers: [.apt(["libssl-dev"])]),
        // SAML over libxmlsec1 (OpenSSL engine), libxml2 and OpenSSL's libcrypto: Apple partner
        // SSO's assertion check and the SAML service provider's messages (saml_messages.h): which
        // element must be signed, and its fields; no canonicalisation or cryptography of its own. .ci/run installs libxmlsec1-dev. The defines are `pkg-config --cflags
        // xmlsec1-openssl`'s (they fix xmlsec's ABI), which SwiftPM does not take from pkg-config.
        .target(
            name: "SAMLAssertion",
            cSettings: [
                .define("XMLSEC_CRYPTO_OPENSSL", to: "1"), .define("XMLSEC_NO_CRYPTO_DYNAMIC_LOADING", to: "1"),
                .define("XMLSEC_NO_SIZE_T"), .define("XMLSEC_OPENSSL3_ENGINES", to: "1"), .define("XMLSEC_NO_GOST", to: "1"),
                .define("XMLSEC_NO_GOST2012", to: "1"), .define("__XMLSEC_FUNCTION__", to: "__func__"),
                .unsafeFlags(["-I/usr/include/xmlsec1", "-I/usr/include/libxml2"]),
            ],
            linkerSettings: [.linkedLibrary("xmlsec1-openssl"), .linkedLibrary("xmlsec1"), .linkedLibrary("xml2"), .linkedLibrary("crypto")]
        ),
        .target(
            name: "TesseraServices",
            dependencies: [
                "TesseraCore", "TesseraMediaToken", "TesseraStore", "TesseraPostgres", "COpenSSL", "SAMLAssertion",
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "_CryptoExtras", package: "swift-crypto"),
                .product(name: "JWTKit", package: "jwt-kit"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Yams", package: "Yams"),
                .product(name: "CoreMetrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                // Tessera as an OpenID Connect relying party: discovery, keys, the token endpoint.
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                // The SAML HTTP-Redirect binding's raw deflate.
                .product(name: "CompressNIO", package: "compress-nio"),
            ]
        ),
        .target(
            name: "TesseraServer",
            dependencies: [
                "TesseraCore",
                "TesseraMediaToken", "TesseraServices",
                "TesseraStore", "TesseraSQLite", "TesseraPostgres",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdCore", package: "hummingbird"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTPTypes", package: "swift-nio-extras"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "_CryptoExtras", package: "swift-crypto"),
                .product(name: "Mustache", package: "swift-mustache"),
                .product(name: "JWTKit", package: "jwt-kit"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "XMLCoder", package: "XMLCoder"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Yams", package: "Yams"),
            ],
            resources: [.copy("Resources")]
        ),
        .executableTarget(
            name: "tessera",
            dependencies: [
                "TesseraServer", "TesseraServices", "TesseraStore", "TesseraSQLite", "TesseraPostgres",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),
        .testTarget(
            name: "TesseraCoreTests",
            dependencies: ["TesseraCore"]
        ),
        .testTarget(
            name: "TesseraMediaTokenTests",
            dependencies: ["TesseraMediaToken", .product(name: "JWTKit", package: "jwt-kit")]
        ),
        .testTarget(
            name: "TesseraStoreTests",
            dependencies: [
                "TesseraStore", "TesseraSQLite", "TesseraPostgres",
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "PostgresNIO", package: "postgres-nio"),
            ]
        ),
        .testTarget(
            name: "TesseraServerTests",
            dependencies: [
                "TesseraServer", "TesseraServices", "TesseraStore", "TesseraSQLite", "TesseraPostgres",
                .product(name: "HummingbirdTesting", package: "hummingbird"),
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "_CryptoExtras", package: "swift-crypto"),
                .product(name: "JWTKit", package: "jwt-kit"),
                // A browser at Glewlwyd (the real OpenID Connect provider of the end-to-end test).
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                // The programs the tests start (tessera serve, Glewlwyd, PHP, Python clients, pg_dump):
                // Foundation's Process.run() of Swift 6.3.1 over-reads /proc/self/fd entries and
                // crashed the suite now and then (swift-corelibs-foundation #5472).
                .product(name: "Subprocess", package: "swift-subprocess"),
            ]
        ),
    ],
    swiftLanguageModes: [.v6]
)
