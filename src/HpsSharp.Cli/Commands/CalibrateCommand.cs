using System.CommandLine;
using System.Globalization;
using System.Security.Cryptography;
using HpsSharp.Cli.Infrastructure;
using HpsSharp.Core;
using HpsSharp.Core.Scoring;

namespace HpsSharp.Cli.Commands;

/// <summary><c>hps calibrate</c>: score a fixed reference set once and write the percentile table.</summary>
public sealed class CalibrateCommand : ICommandFactory
{
    public Command Create(CliEnvironment env)
    {
        ArgumentNullException.ThrowIfNull(env);
        var model = new ModelOptions();
        var reference = new Option<string>("--reference") { Description = "JSONL reference set: {\"prompt\": ..., \"image\": ...} per line (paths relative to the file)", Required = true };
        var output = new Option<string>("--out") { Description = "Where to write calib.json", Required = true };
        var cmd = new Command("calibrate", "Score a reference set once; --calibration FILE on score/serve then adds the percentile (0-100) beside μ");
        model.AddTo(cmd);
        cmd.Options.Add(reference);
        cmd.Options.Add(output);
        cmd.SetAction(async (parse, ct) =>
        {
            string refPath = parse.GetValue(reference)!;
            var requests = ScoreInputs.FromManifest(refPath);
            if (requests.Count == 0)
            {
                throw new UserInputException(refPath, "the reference set is empty");
            }

            using var scorer = model.Load(parse, env);
            var results = await ProgressReporter.RunAsync(env, "scoring the reference set", p => scorer.ScoreAsync(requests, p, ct)).ConfigureAwait(false);
            var ok = results.Where(r => r.Score is { } s && double.IsFinite(s.Mu)).Select(r => r.Score!.Value).ToList();
            var calibration = Calibration.FromScores(scorer.Model, refPath, Convert.ToHexStringLower(SHA256.HashData(File.ReadAllBytes(refPath))), ok, results.Count - ok.Count);
            calibration.Save(parse.GetValue(output)!);
            var inv = CultureInfo.InvariantCulture;
            env.Error.WriteLine($"model: {scorer.Model.Describe()}");
            env.Out.WriteLine(string.Create(inv, $"calibrated on {calibration.Count} reference images ({calibration.Failed} failed): mean {(calibration.MeanSigma is null ? "score" : "μ")} {calibration.Mean:0.0000}, std {calibration.Std:0.0000}{(calibration.MeanSigma is { } ms ? $", mean σ {ms:0.0000}" : string.Empty)} ({calibration.Scorer})"));
            env.Out.WriteLine($"wrote {parse.GetValue(output)}");
            foreach (var r in results.Where(r => !r.Ok))
            {
                env.Error.WriteLine($"  {r.Request.Image.Name}: {r.Error}");
            }

            return CliApp.Ok;
        });
        return cmd;
    }
}
