using HpsSharp.Cli.Infrastructure;
using HpsSharp.Core.Scoring;

namespace HpsSharp.Cli.Tests;

/// <summary>Runs <c>hps</c> in-process over string writers; a scorer loader can replace the real model.</summary>
public static class CliHarness
{
    public static async Task<(int Code, string Out, string Err)> RunAsync(Func<ScorerOptions, IScorer>? loader, params string[] args)
    {
        using var stdout = new StringWriter();
        using var stderr = new StringWriter();
        var env = new CliEnvironment(stdout, stderr, interactive: false, loader);
        int code = await CliApp.RunAsync(args, env);
        return (code, stdout.ToString(), stderr.ToString());
    }

    public static Task<(int Code, string Out, string Err)> RunAsync(params string[] args) => RunAsync(null, args);
}
