namespace HpsSharp.Cluster;

/// <summary>Names the worker silos and the clients must agree on.</summary>
public static class ClusterNames
{
    /// <summary>The grain storage provider holding job and registry state.</summary>
    public const string Storage = "hps";

    /// <summary>Orleans service id: identifies this application's grain state across cluster re-deployments.</summary>
    public const string ServiceId = "hpssharp";

    /// <summary>The default cluster id (<c>--cluster-id</c>).</summary>
    public const string DefaultClusterId = "hps";
}
