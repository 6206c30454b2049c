using System.CommandLine;
using System.Text;
using System.Text.Json;
using HpsSharp.Cli.Infrastructure;
using HpsSharp.Core.Scoring;

namespace HpsSharp.Cli.Commands;

/// <summary><c>hps compare</c>: P(A preferred over B) from both (μ, σ).</summary>
public sealed class CompareCommand : ICommandFactory
{
    public Command Create(CliEnvironment env)
    {
        ArgumentNullException.ThrowIfNull(env);
        var model = new ModelOptions();
        var prompt = new Option<string>("--prompt") { Description = "The prompt both images were generated for", Required = true };
        var json = new Option<bool>("--json") { Description = "Print one JSON document on stdout" };
        var a = new Argument<string>("A") { Description = "First image" };
        var b = new Argument<string>("B") { Description = "Second image" };
        var cmd = new Command("compare", "P(A preferred over B) = E[sigmoid(zA − zB)] under both images' Gaussians, plus both scores");
        model.AddTo(cmd);
        cmd.Options.Add(prompt);
        cmd.Options.Add(json);
        cmd.Arguments.Add(a);
        cmd.Arguments.Add(b);
        cmd.SetAction(async (parse, ct) =>
        {
            var pathA = parse.GetValue(a)!;
            var pathB = parse.GetValue(b)!;
            foreach (var p in new[] { pathA, pathB })
            {
                if (!File.Exists(p))
                {
                    throw new FileNotFoundException($"image not found: {p}", p);
                }
            }

            using var scorer = model.Load(parse, env);
            var c = await scorer.CompareAsync(parse.GetValue(prompt)!, ImageInput.FromPath(pathA), ImageInput.FromPath(pathB), ct).ConfigureAwait(false);
            if (parse.GetValue(json))
            {
                using var ms = new MemoryStream();
                using (var w = new Utf8JsonWriter(ms, CliJson.Indented))
                {
                    w.WriteStartObject();
                    ScoreCommand.WriteModel(w, scorer.Model);
                    if (double.IsFinite(c.ProbabilityAOverB))
                    {
                        w.WriteNumber("p_a_over_b", c.ProbabilityAOverB);
                    }
                    else
                    {
                        // Scorers without σ give no probability, only which score is higher.
                        w.WriteNull("p_a_over_b");
                    }

                    w.WriteString("preferred", c.A.Mu > c.B.Mu ? "a" : c.A.Mu < c.B.Mu ? "b" : "tie");
                    Write(w, "a", pathA, c.A, scorer.Model.Scorer);
                    Write(w, "b", pathB, c.B, scorer.Model.Scorer);
                    w.WriteEndObject();
                }

                env.Out.WriteLine(Encoding.UTF8.GetString(ms.ToArray()));
            }
            else if (!double.IsFinite(c.ProbabilityAOverB))
            {
                var name = scorer.Model.Scorer;
                env.Out.WriteLine($"A {pathA}: {name} = {ScoreCommand.F(c.A.Mu)}");
                env.Out.WriteLine($"B {pathB}: {name} = {ScoreCommand.F(c.B.Mu)}");
                env.Out.WriteLine(c.A.Mu == c.B.Mu ? "tie" : $"{(c.A.Mu > c.B.Mu ? "A" : "B")} preferred ({name} gives no probability)");
            }
            else
            {
                env.Out.WriteLine($"A {pathA}: μ = {ScoreCommand.F(c.A.Mu)}, σ = {ScoreCommand.F(c.A.Sigma)}");
                env.Out.WriteLine($"B {pathB}: μ = {ScoreCommand.F(c.B.Mu)}, σ = {ScoreCommand.F(c.B.Sigma)}");
                env.Out.WriteLine($"P(A preferred over B) = {ScoreCommand.F(c.ProbabilityAOverB)}");
            }

            return CliApp.Ok;
        });
        return cmd;
    }

    private static void Write(Utf8JsonWriter w, string name, string path, Score s, string scorer)
    {
        w.WriteStartObject(name);
        w.WriteString("image", path);
        w.WriteString("scorer", scorer);
        w.WriteNumber("score", s.Mu);
        if (s.HasUncertainty)
        {
            w.WriteNumber("mu", s.Mu);
            w.WriteNumber("log_sigma", s.LogSigma);
            w.WriteNumber("sigma", s.Sigma);
        }

        w.WriteEndObject();
    }
}
