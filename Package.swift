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
        .package(url: "https://github.com/jpsim/Yams", from: "6.2.2"),
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
                "LuaHost", "JSON",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
            ]
        ),
        .target(
            name: "Config",
            dependencies: ["JSON", "Hooks", "Yams"]
        ),
        .executableTarget(
            name: "callhook",
            dependencies: [
                "Config", "Hooks", "LuaHost", "JSON", "CCurl",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ]
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
                "Hooks", "Config", "LuaHost", "JSON", "TestSupport",
                .product(name: "InMemoryLogging", package: "swift-log"),
                .product(name: "MetricsTestKit", package: "swift-metrics"),
            ]
        ),
        .testTarget(name: "CallhookCLITests", dependencies: ["JSON", "TestSupport"]),
    ]
)
