using HpsSharp.Core;
using StackExchange.Redis;

namespace HpsSharp.Cluster;

/// <summary>
/// Where a cluster lives: the Redis server that holds its membership table and grain state
/// (<c>redis://[:PASSWORD@]HOST:PORT[/DB]</c>), and the cluster id that separates several clusters on one Redis.
/// </summary>
public sealed record ClusterAddress(string Host, int Port, string? Password, int Database, string ClusterId)
{
    /// <summary>Parses a redis:// address and a cluster id; errors name the <c>ClusterAddress</c> field and what is wrong.</summary>
    public static ClusterAddress Parse(string uri, string? clusterId = null)
    {
        ArgumentNullException.ThrowIfNull(uri);
        if (!Uri.TryCreate(uri, UriKind.Absolute, out var u) || (u.Scheme != "redis" && u.Scheme != "rediss"))
        {
            throw UserInputException.ForOption(nameof(ClusterAddress), $"'{uri}' is not a redis://HOST:PORT address");
        }

        if (string.IsNullOrEmpty(u.Host))
        {
            throw UserInputException.ForOption(nameof(ClusterAddress), $"'{uri}' has no host");
        }

        int db = 0;
        var path = u.AbsolutePath.Trim('/');
        if (path.Length > 0 && !int.TryParse(path, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out db))
        {
            throw UserInputException.ForOption(nameof(ClusterAddress), $"'{uri}': the path must be a database number, not '{path}'");
        }

        string? password = null;
        if (!string.IsNullOrEmpty(u.UserInfo))
        {
            var info = Uri.UnescapeDataString(u.UserInfo);
            password = info.Contains(':', StringComparison.Ordinal) ? info[(info.IndexOf(':', StringComparison.Ordinal) + 1)..] : info;
        }

        var id = string.IsNullOrWhiteSpace(clusterId) ? ClusterNames.DefaultClusterId : clusterId;
        return new ClusterAddress(u.Host, u.Port > 0 ? u.Port : 6379, password, db, id);
    }

    /// <summary>
    /// Checks that Redis accepts a TCP connection, so that an unreachable Redis is one clear sentence instead of the
    /// Redis client's timeout report.
    /// </summary>
    public async Task ProbeAsync(CancellationToken cancellationToken = default)
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(TimeSpan.FromSeconds(5));
        using var tcp = new System.Net.Sockets.TcpClient();
        try
        {
            await tcp.ConnectAsync(Host, Port, timeout.Token).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is System.Net.Sockets.SocketException || (ex is OperationCanceledException && !cancellationToken.IsCancellationRequested))
        {
            throw UserInputException.ForOption(nameof(ClusterAddress), $"cannot reach Redis at {Host}:{Port} ({(ex is OperationCanceledException ? "timed out after 5 s" : ex.Message)})", ex);
        }
    }

    /// <summary>True when the Redis host is this machine (workers then advertise the loopback address).</summary>
    public bool IsLoopback => Host is "localhost" or "127.0.0.1" or "::1" or "[::1]";

    /// <summary>The StackExchange.Redis configuration for this address.</summary>
    public ConfigurationOptions RedisOptions()
    {
        var o = new ConfigurationOptions { Password = Password, DefaultDatabase = Database, AbortOnConnectFail = false, ConnectTimeout = 5000 };
        o.EndPoints.Add(Host, Port);
        return o;
    }

    /// <inheritdoc/>
    public override string ToString() => $"redis://{Host}:{Port}{(Database != 0 ? "/" + Database : string.Empty)} (cluster id '{ClusterId}')";
}
