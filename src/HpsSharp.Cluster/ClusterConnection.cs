using HpsSharp.Core;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Orleans.Configuration;

namespace HpsSharp.Cluster;

/// <summary>The cluster cannot be reached: Redis is down, or no worker (gateway) is running for the cluster id.</summary>
public sealed class ClusterUnavailableException(ClusterAddress address, string reason, Exception? inner = null)
    : HpsException($"cluster {address}: {reason}", inner)
{
    /// <summary>The cluster that could not be reached.</summary>
    public ClusterAddress Address { get; } = address;

    /// <summary>True when no worker answered at all (a front end can say how to start one).</summary>
    public bool NoWorker { get; init; }
}

/// <summary>An Orleans client connected to a cluster through its workers' gateways (found in the Redis membership table).</summary>
public sealed class ClusterConnection : IAsyncDisposable
{
    private readonly IHost _host;

    private ClusterConnection(IHost host, ClusterAddress address)
    {
        _host = host;
        Address = address;
        Grains = host.Services.GetRequiredService<IClusterClient>();
    }

    /// <summary>Where it is connected.</summary>
    public ClusterAddress Address { get; }

    /// <summary>Grain references for this cluster.</summary>
    public IGrainFactory Grains { get; }

    /// <summary>Connects; fails with <see cref="ClusterUnavailableException"/> naming the cluster when no worker answers.</summary>
    public static async Task<ClusterConnection> ConnectAsync(ClusterAddress address, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(address);
        await address.ProbeAsync(cancellationToken).ConfigureAwait(false);
        var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { DisableDefaults = true, ApplicationName = "hps-cluster-client" });
        builder.Logging.ClearProviders();
        builder.UseOrleansClient(client =>
        {
            client.UseRedisClustering(o => o.ConfigurationOptions = address.RedisOptions());
            client.Configure<ClusterOptions>(o =>
            {
                o.ClusterId = address.ClusterId;
                o.ServiceId = WorkerHost.ServiceId(address);
            });

            // Short: the calls are small, and a call stuck on a dead silo should fail and be retried elsewhere soon.
            client.Configure<ClientMessagingOptions>(o => o.ResponseTimeout = TimeSpan.FromSeconds(10));
            client.Configure<GatewayOptions>(o => o.GatewayListRefreshPeriod = TimeSpan.FromSeconds(2));
        });
        var host = builder.Build();
        try
        {
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            timeout.CancelAfter(TimeSpan.FromSeconds(15));
            await host.StartAsync(timeout.Token).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
        {
            host.Dispose();
            var reason = ex is OperationCanceledException ? "no worker is running in this cluster; waited 15 s" : ex.Message.ReplaceLineEndings(" ");
            throw new ClusterUnavailableException(address, $"no worker answered ({(reason.Length > 200 ? reason[..200] + "…" : reason)})", ex) { NoWorker = true };
        }

        return new ClusterConnection(host, address);
    }

    /// <inheritdoc/>
    public async ValueTask DisposeAsync()
    {
        try
        {
            using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(5));
            await _host.StopAsync(cts.Token).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is OperationCanceledException or InvalidOperationException or TimeoutException)
        {
            // Leaving a cluster that is already gone is not an error.
        }

        _host.Dispose();
    }
}
