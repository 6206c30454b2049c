namespace HpsSharp.Hub;

/// <summary>
/// Where and how to talk to a Hugging Face hub. <see cref="FromEnvironment"/> resolves the same variables as Python's
/// <c>huggingface_hub</c>, so both share one cache and one token.
/// </summary>
public sealed record HubOptions
{
    /// <summary>The public hub.</summary>
    public const string DefaultEndpoint = "https://huggingface.co";

    /// <summary>Base URL of the hub (<c>HF_ENDPOINT</c>), without a trailing slash.</summary>
    public string Endpoint { get; init; } = DefaultEndpoint;

    /// <summary>The hub cache folder holding <c>models--org--name</c> (<c>HF_HUB_CACHE</c>, else <c>$HF_HOME/hub</c>).</summary>
    public required string CacheDir { get; init; }

    /// <summary><c>HF_HOME</c>: the parent of the default cache; HpsSharp's assembled model folders live under it.</summary>
    public required string HfHome { get; init; }

    /// <summary>Access token sent as <c>Authorization: Bearer</c> to the endpoint's host only (never to a CDN).</summary>
    public string? Token { get; init; }

    /// <summary>Use the cache only (<c>HF_HUB_OFFLINE=1</c>): no request is made.</summary>
    public bool Offline { get; init; }

    /// <summary>Retries after a 5xx/429 answer, a timeout or a dropped connection (each resumes where it stopped).</summary>
    public int MaxRetries { get; init; } = 6;

    /// <summary>First retry delay; doubled on each further retry (capped at 30 s).</summary>
    public TimeSpan RetryBaseDelay { get; init; } = TimeSpan.FromSeconds(1);

    /// <summary>A request or a read that makes no progress for this long is abandoned and retried.</summary>
    public TimeSpan ReadTimeout { get; init; } = TimeSpan.FromSeconds(60);

    /// <summary>How long to wait for another process holding the download lock of the same blob.</summary>
    public TimeSpan LockTimeout { get; init; } = TimeSpan.FromMinutes(30);

    /// <summary>
    /// Options from the environment: <c>HF_ENDPOINT</c>, <c>HF_HOME</c> (default <c>$XDG_CACHE_HOME/huggingface</c> or
    /// <c>~/.cache/huggingface</c>), <c>HF_HUB_CACHE</c> (legacy <c>HUGGINGFACE_HUB_CACHE</c>), <c>HF_TOKEN</c>
    /// (legacy <c>HUGGING_FACE_HUB_TOKEN</c>, else the file <c>HF_TOKEN_PATH</c> or <c>$HF_HOME/token</c>) and
    /// <c>HF_HUB_OFFLINE</c>. <paramref name="getEnv"/> replaces <see cref="Environment.GetEnvironmentVariable(string)"/> in tests.
    /// </summary>
    public static HubOptions FromEnvironment(Func<string, string?>? getEnv = null)
    {
        getEnv ??= Environment.GetEnvironmentVariable;
        string? Get(string name) => getEnv(name) is { Length: > 0 } v ? v : null;

        string hfHome = Get("HF_HOME") is { } home
            ? ExpandHome(home)
            : Path.Combine(Get("XDG_CACHE_HOME") is { } xdg ? ExpandHome(xdg) : Path.Combine(UserHome(), ".cache"), "huggingface");
        string cache = (Get("HF_HUB_CACHE") ?? Get("HUGGINGFACE_HUB_CACHE")) is { } c ? ExpandHome(c) : Path.Combine(hfHome, "hub");

        string? token = Get("HF_TOKEN") ?? Get("HUGGING_FACE_HUB_TOKEN");
        if (token is null)
        {
            var tokenPath = Get("HF_TOKEN_PATH") is { } tp ? ExpandHome(tp) : Path.Combine(hfHome, "token");
            if (File.Exists(tokenPath))
            {
                var t = File.ReadAllText(tokenPath).Trim();
                token = t.Length > 0 ? t : null;
            }
        }

        var offline = Get("HF_HUB_OFFLINE") is { } off && IsTrue(off);
        return new HubOptions
        {
            Endpoint = (Get("HF_ENDPOINT") ?? DefaultEndpoint).TrimEnd('/'),
            HfHome = hfHome,
            CacheDir = cache,
            Token = token,
            Offline = offline,
        };
    }

    internal static bool IsTrue(string value) =>
        value.Trim().ToUpperInvariant() is "1" or "ON" or "YES" or "TRUE";

    private static string UserHome() => Environment.GetFolderPath(Environment.SpecialFolder.UserProfile);

    private static string ExpandHome(string path) =>
        path == "~" ? UserHome()
        : path.StartsWith("~/", StringComparison.Ordinal) ? Path.Combine(UserHome(), path[2..])
        : path;
}
