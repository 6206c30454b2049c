using HpsSharp.Core.Video;
using HpsSharp.Media;
using HpsSharp.Server.Monitoring;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;

namespace HpsSharp.Server.Protocols;

/// <summary>Registers and maps the trainer wire formats, video scoring and the monitors beside <c>/v1/*</c>.</summary>
public static class TrainerProtocols
{
    /// <summary>Services the protocols need; an <see cref="IVideoDecoder"/> registered before wins over FFmpeg's.</summary>
    public static IServiceCollection AddTrainerProtocols(this IServiceCollection services, RewardServiceOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        services.TryAddSingleton<IVideoDecoder, FfmpegVideoDecoder>();
        services.AddSingleton<VideoScoring>();
        services.AddSingleton<CosmosRlProtocol.ResultStore>();
        services.AddSingleton(_ => new RewardMonitor(options.Monitor, options.Calibration));
        return services;
    }

    /// <summary>Maps <c>POST /</c>, <c>POST /score</c>, <c>/api/reward/*</c> and <c>GET /v1/monitor</c>.</summary>
    public static IEndpointRouteBuilder MapTrainerProtocols(this IEndpointRouteBuilder app)
    {
        app.MapFlowGrpo();
        app.MapUniRl();
        app.MapCosmosRl();
        app.MapMonitor();
        return app;
    }
}
