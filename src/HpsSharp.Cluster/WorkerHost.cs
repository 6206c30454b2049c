using System.Net;
using System.Net.Sockets;
using HpsSharp.Core.Scoring;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Orleans.Configuration;

namespace HpsSharp.Cluster;

/// <summary>
/// Builds a worker: an Orleans silo (membership in Redis, job state in Redis grain storage) with the scorer as a
/// singleton and the <see cref="WorkerLoop"/> pulling work. The scorer is loaded by the caller before the silo
/// starts, so a worker joins the cluster only once it can score.
/// </summary>
public static class WorkerHost
{
    /// <summary>Builds the host; run it with <c>RunAsync</c> (it stops and drains on SIGTERM or Ctrl+C).</summary>
    public static IHost Build(WorkerOptions options, IScorer scorer, Action<ILoggingBuilder>? logging = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(scorer);
        var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { DisableDefaults = true, ApplicationName = "hps-cluster-worker" });
        builder.Logging.ClearProviders();
        logging?.Invoke(builder.Logging);
        builder.Services.Configure<HostOptions>(o => o.ShutdownTimeout = (options.DrainTimeout ?? TimeSpan.FromSeconds(120)) + TimeSpan.FromSeconds(30));
        builder.Services.AddSingleton(scorer);
        builder.Services.AddSingleton(options);
        var address = options.Address;
        int siloPort = options.SiloPort == 0 ? FreePort() : options.SiloPort;
        int gatewayPort = options.GatewayPort == 0 ? FreePort() : options.GatewayPort;
        builder.UseOrleans(silo =>
        {
            if (options.Kubernetes)
            {
                // First, so that --cluster-id (configured below) wins over the ORLEANS_CLUSTER_ID/SERVICE_ID variables.
                silo.UseKubernetesHosting();
            }

            silo.UseRedisClustering(o => o.ConfigurationOptions = address.RedisOptions());
            silo.AddRedisGrainStorage(ClusterNames.Storage, o => o.ConfigurationOptions = address.RedisOptions());
            silo.Configure<ClusterOptions>(o =>
            {
                o.ClusterId = address.ClusterId;
                o.ServiceId = ServiceId(address);
            });
            var advertise = options.Advertise ?? (address.IsLoopback ? IPAddress.Loopback : null);
            if (advertise is not null)
            {
                silo.ConfigureEndpoints(advertise, siloPort, gatewayPort, listenOnAnyHostAddress: !IPAddress.IsLoopback(advertise));
            }
            else
            {
                silo.ConfigureEndpoints(siloPort, gatewayPort, AddressFamily.InterNetwork, listenOnAnyHostAddress: true);
            }

            silo.Configure<SiloMessagingOptions>(o => o.ResponseTimeout = TimeSpan.FromSeconds(options.FastFailureDetection ? 5 : 30));
            if (options.FastFailureDetection)
            {
                silo.Configure<ClusterMembershipOptions>(o =>
                {
                    o.ProbeTimeout = TimeSpan.FromSeconds(1);
                    o.NumMissedProbesLimit = 2;
                    o.NumVotesForDeathDeclaration = 1;
                    o.TableRefreshTimeout = TimeSpan.FromSeconds(1);
                    o.IAmAliveTablePublishTimeout = TimeSpan.FromSeconds(2);
                });
            }
        });
        builder.Services.AddHostedService<WorkerLoop>();
        return builder.Build();
    }

    /// <summary>Grain state is keyed by service id; one per cluster id, so clusters sharing a Redis never share jobs.</summary>
    internal static string ServiceId(ClusterAddress address) => $"{ClusterNames.ServiceId}-{address.ClusterId}";

    private static int FreePort()
    {
        using var l = new TcpListener(IPAddress.Loopback, 0);
        l.Start();
        return ((IPEndPoint)l.LocalEndpoint).Port;
    }
}
