import Bitrix24
import JSON
import Logging
import Store

/// The portal's users by extension (`UF_PHONE_INNER`), from `user.get`: kept in the database so calls can be
/// mapped while the portal is unreachable, refreshed every `usersRefresh`, and at once (at most once a minute)
/// when an extension is not found.
public actor UserDirectory {
    private let database: CallhookDatabase
    private let client: Bitrix24Client
    private let refreshInterval: Double
    private let logger: Logger
    private var byExtension: [String: PortalUser] = [:]
    private var byID: [Int: PortalUser] = [:]
    private var fetchedAt: Double = 0
    private var lastAttempt: Double = 0
    private var refreshing: Task<Void, Never>?

    public init(database: CallhookDatabase, client: Bitrix24Client, refreshInterval: Duration, logger: Logger) {
        self.database = database
        self.client = client
        self.refreshInterval = refreshInterval.seconds
        self.logger = logger
    }

    /// Loads the cached users; fetches them if the cache is empty or old.
    public func start() async {
        if let cached = try? await self.database.read({ db in (try db.users(), try db.meta("users_fetched_at")) }) {
            self.index(cached.0)
            self.fetchedAt = cached.1.flatMap(Double.init) ?? 0
        }
        await self.refreshIfStale()
    }

    public func user(extension number: String?) async -> PortalUser? {
        guard let number, !number.isEmpty else { return nil }
        if let user = self.byExtension[number] { return user }
        // A fetch under way (the first one after a start, typically) may bring the extension: a call that rings
        // meanwhile waits for it rather than going to the line's default user.
        if let refreshing {
            await refreshing.value
        } else if unixNow() - self.lastAttempt > 60 {
            await self.refresh()
        }
        return self.byExtension[number]
    }

    public func user(id: Int?) -> PortalUser? {
        id.flatMap { self.byID[$0] }
    }

    public func refreshIfStale() async {
        if unixNow() - self.fetchedAt > self.refreshInterval { await self.refresh() }
    }

    /// Fetches every active user (pages of 50). A failure keeps the cached list.
    public func refresh() async {
        if let refreshing {
            await refreshing.value
            return
        }
        let task = Task { await self.fetch() }
        self.refreshing = task
        await task.value
        self.refreshing = nil
    }

    private func fetch() async {
        self.lastAttempt = unixNow()
        var users: [PortalUser] = []
        var start: Int64 = 0
        do {
            while true {
                let page = try await self.client.response(
                    "user.get", ["FILTER": ["ACTIVE": true], "start": .integer(start)])
                for item in page["result"]?.arrayValue ?? [] {
                    guard let id = item["ID"]?.scalarText.flatMap({ Int($0) }) else { continue }
                    let inner = item["UF_PHONE_INNER"]?.scalarText.flatMap { $0.isEmpty ? nil : $0 }
                    let name = [item["NAME"]?.scalarText, item["LAST_NAME"]?.scalarText].compactMap { $0 }
                        .joined(separator: " ")
                    users.append(
                        PortalUser(id: id, innerPhone: inner, name: name, active: item["ACTIVE"]?.boolValue ?? true))
                }
                guard let next = page["next"]?.integerValue, next > start else { break }
                start = next
            }
        } catch {
            self.logger.warning(
                "cannot refresh the portal's users, keeping the cached list",
                metadata: ["crm.error": "\(error.code)", "users.cached": "\(self.byID.count)"])
            return
        }
        let now = unixNow()
        let list = users
        do {
            try await self.database.write { db in try db.replaceUsers(list, at: now) }
        } catch {
            self.logger.error("cannot store the portal's users", metadata: ["error": "\(error)"])
        }
        self.index(users)
        self.fetchedAt = now
        self.logger.info(
            "portal users loaded",
            metadata: ["users.count": "\(users.count)", "users.with_phone": "\(self.byExtension.count)"])
    }

    private func index(_ users: [PortalUser]) {
        self.byID = Dictionary(users.map { ($0.id, $0) }, uniquingKeysWith: { first, _ in first })
        self.byExtension = [:]
        for user in users where user.active {
            if let inner = user.innerPhone { self.byExtension[inner] = user }
        }
    }
}
