using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;

namespace HpsSharp.Server.Monitoring;

/// <summary><c>GET /v1/monitor</c>: the reward-hacking monitors over the sliding window.</summary>
public static class MonitorEndpoints
{
    public static IEndpointRouteBuilder MapMonitor(this IEndpointRouteBuilder app)
    {
        ArgumentNullException.ThrowIfNull(app);
        app.MapGet("/v1/monitor", (RewardMonitor monitor) => TypedResults.Text(monitor.Snapshot().ToJsonString(), "application/json"))
            .WithSummary("Reward-hacking monitors over the sliding window: {window, groups, spread, saturated_share, mean_sigma, sigma_trend, drift, alerts}");
        return app;
    }
}
