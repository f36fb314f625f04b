// swift-tools-version:6.1
import PackageDescription

let package = Package(
    name: "callhook",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "callhook", targets: ["callhook"])
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-metrics", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.1"),
        .package(url: "https://github.com/jpsim/Yams", from: "6.2.2"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.3"),
        .package(url: "https://github.com/apple/swift-nio-extras", from: "1.35.2"),
        .package(url: "https://github.com/apple/swift-crypto", from: "3.12.3"),
        .package(url: "https://github.com/x-sheep/swift-property-based", from: "2.0.1"),
        .package(url: "https://github.com/groue/GRDB.swift", from: "7.10.0"),
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.1"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.13.0"),
        .package(url: "https://github.com/apple/swift-http-types", from: "1.8.0"),
    ],
    targets: [
        // Lua 5.4 from the system (Debian: liblua5.4-dev).
        .systemLibrary(
            name: "CLua",
            pkgConfig: "lua5.4",
            providers: [.apt(["liblua5.4-dev"]), .brew(["lua"])]
        ),
        // libcurl from the system (Debian: libcurl4-openssl-dev), for outbound HTTP.
        .systemLibrary(
            name: "CCurl",
            pkgConfig: "libcurl",
            providers: [.apt(["libcurl4-openssl-dev"]), .brew(["curl"])]
        ),
        // Every Lua call that can raise lives here, behind lua_pcall: no Lua error unwinds a Swift frame.
        .target(name: "CLuaShim", dependencies: ["CLua"]),
        .target(name: "JSON"),
        // Telephony notions shared by several modules (FreePBX dial patterns).
        .target(name: "PBX"),
        .target(
            name: "LuaHost",
            dependencies: [
                "CLuaShim", "JSON",
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .target(
            name: "Hooks",
            dependencies: [
                "LuaHost", "JSON", "PBX",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
            ]
        ),
        // The Asterisk Manager Interface: frames, messages, actions, the connection state machine (no sockets).
        .target(
            name: "AMI",
            dependencies: [
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "Crypto", package: "swift-crypto"),
            ]
        ),
        // The AMI client over TCP: login, keepalive, reconnect, actions.
        .target(
            name: "AMIClient",
            dependencies: [
                "AMI", "Calls",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        // The GNU scheduling calls Swift's Glibc module leaves out (a thread's CPU affinity, the SCHED_IDLE class).
        .target(name: "CThreads"),
        // Outbound HTTP through libcurl, on a thread pool of its own (libcurl's calls block).
        .target(
            name: "HTTPClient",
            dependencies: [
                "CThreads",
                "CCurl",
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        // The Bitrix24 REST client: auth, limits, errors, batch.
        .target(
            name: "Bitrix24",
            dependencies: ["HTTPClient", "JSON", .product(name: "Logging", package: "swift-log")]
        ),
        // Durable state in SQLite (GRDB, WAL): the AMI journal, calls, the outbox, users, tokens.
        .target(
            name: "Store",
            dependencies: ["JSON", "Bitrix24", "CThreads", .product(name: "GRDB", package: "GRDB.swift")]
        ),
        // The Bitrix24 pipeline: AMI events → journal + outbox (intake), outbox → hooks → CRM (deliverer).
        .target(
            name: "Pipeline",
            dependencies: [
                "AMI", "Calls", "Hooks", "Bitrix24", "Store", "JSON",
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        // The daemon: AMI → pipeline → Bitrix24, the events server, housekeeping.
        .target(
            name: "Daemon",
            dependencies: [
                "AMI", "AMIClient", "Bitrix24", "Calls", "Config", "HTTPClient", "Hooks", "JSON", "Pipeline", "Store",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
            ]
        ),
        // What every call is, from the AMI event stream (pure: no I/O, no clock).
        .target(
            name: "Calls",
            dependencies: ["AMI", "JSON", "PBX", .product(name: "NIOCore", package: "swift-nio")]
        ),
        // Local stand-ins for external systems: an AMI peer that plays captures, a Bitrix24 portal.
        .target(
            name: "Sandboxes",
            dependencies: [
                "AMI", "JSON", "Bitrix24", "HTTPClient",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "NIOHTTPTypes", package: "swift-nio-extras"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .target(
            name: "Config",
            dependencies: ["JSON", "Hooks", "Calls", "AMI", "Bitrix24", "Pipeline", "Yams"]
        ),
        .executableTarget(
            name: "callhook",
            dependencies: [
                "Config", "Hooks", "LuaHost", "JSON", "CCurl", "AMI", "AMIClient", "Calls", "Sandboxes", "Daemon",
                "Pipeline", "Store", "Bitrix24", "HTTPClient",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "NIOCore", package: "swift-nio"),
            ],
            resources: [.copy("Demo")]
        ),
        .target(name: "TestSupport", dependencies: ["JSON"], path: "Tests/TestSupport"),
        .testTarget(name: "JSONTests", dependencies: ["JSON", "TestSupport"]),
        .testTarget(
            name: "LuaHostTests",
            dependencies: [
                "LuaHost", "JSON", "TestSupport", "Hooks",
                .product(name: "InMemoryLogging", package: "swift-log"),
            ]
        ),
        .testTarget(
            name: "HooksTests",
            dependencies: [
                "Hooks", "Config", "LuaHost", "JSON", "TestSupport", "PBX",
                .product(name: "InMemoryLogging", package: "swift-log"),
                .product(name: "MetricsTestKit", package: "swift-metrics"),
            ]
        ),
        .testTarget(
            name: "AMITests",
            dependencies: [
                "AMI", "AMIClient", "Sandboxes", "TestSupport", "Calls",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOTestUtils", package: "swift-nio"),
                .product(name: "PropertyBased", package: "swift-property-based"),
                .product(name: "InMemoryLogging", package: "swift-log"),
            ]
        ),
        .testTarget(
            name: "CallsTests",
            dependencies: [
                "Calls", "AMI", "JSON", "TestSupport", "Sandboxes",
                .product(name: "NIOCore", package: "swift-nio"),
            ]
        ),
        .testTarget(
            name: "HTTPClientTests",
            dependencies: [
                "CThreads",
                "HTTPClient",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "NIOPosix", package: "swift-nio"),
            ]
        ),
        .testTarget(name: "CallhookCLITests", dependencies: ["JSON", "TestSupport"]),
        .target(
            name: "SandboxSupport",
            dependencies: [
                "Sandboxes", "Bitrix24", "HTTPClient", "JSON", .product(name: "Logging", package: "swift-log"),
            ],
            path: "Tests/SandboxSupport"
        ),
        .testTarget(
            name: "PipelineTests",
            dependencies: [
                "Daemon", "Pipeline", "Bitrix24", "Config", "Store", "Sandboxes", "SandboxSupport", "AMI", "Calls",
                "CThreads",
                "Hooks", "JSON", "HTTPClient", "TestSupport", .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOPosix", package: "swift-nio"),
            ]
        ),
        .testTarget(
            name: "Bitrix24Tests",
            dependencies: ["Bitrix24", "Sandboxes", "SandboxSupport", "HTTPClient", "JSON", "TestSupport"]
        ),
    ]
)
