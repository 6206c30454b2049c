using System.Net;

namespace HpsSharp.Cluster;

/// <summary>How a worker silo joins the cluster and pulls work.</summary>
/// <param name="Address">The cluster (Redis and cluster id).</param>
/// <param name="Name">The worker's name in status and output lines.</param>
/// <param name="SiloPort">Silo-to-silo port; 0 picks a free one.</param>
/// <param name="GatewayPort">Client gateway port; 0 picks a free one.</param>
/// <param name="Advertise">The address other machines reach this one at; null: loopback when Redis is local, else this host's address.</param>
/// <param name="LeaseSize">Items taken per lease (one scorer call); small keeps fast and slow workers equally busy.</param>
/// <param name="FastFailureDetection">Declare a silent worker dead after a few seconds instead of Orleans's default (about half a minute); for tests and single-host clusters.</param>
/// <param name="PollInterval">How long an idle worker waits before asking for work again.</param>
/// <param name="DrainTimeout">On SIGTERM, how long the current batch may still run before its items are handed back.</param>
/// <param name="Kubernetes">Run under Kubernetes (Microsoft.Orleans.Hosting.Kubernetes): reads POD_NAME, POD_NAMESPACE and POD_IP, and lets the silos remove the membership entries of deleted pods and delete the pods of dead silos.</param>
public sealed record WorkerOptions(
    ClusterAddress Address,
    string Name,
    int SiloPort = 11111,
    int GatewayPort = 30000,
    IPAddress? Advertise = null,
    int LeaseSize = 4,
    bool FastFailureDetection = false,
    TimeSpan? PollInterval = null,
    TimeSpan? DrainTimeout = null,
    bool Kubernetes = false)
{
    /// <summary>How often a worker tells the registry it is alive.</summary>
    public static readonly TimeSpan HeartbeatInterval = TimeSpan.FromSeconds(1);

    /// <summary>Workers not heard from within this window are not listed.</summary>
    public static readonly TimeSpan WorkerStaleAfter = TimeSpan.FromSeconds(6);

    /// <summary>Default worker name: host name and process id.</summary>
    public static string DefaultName() => $"{Environment.MachineName}-{Environment.ProcessId}";
}
