using System.CommandLine;
using HpsSharp.Cli.Infrastructure;
using HpsSharp.Core.Scoring;
using HpsSharp.Core.Scoring.Contracts;

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
                // Scorers without σ give no probability (null), only which score is higher.
                var name = scorer.Model.Scorer;
                var doc = new CompareDocument(
                    ModelRecord.From(scorer.Model),
                    double.IsFinite(c.ProbabilityAOverB) ? c.ProbabilityAOverB : null,
                    c.A.Mu > c.B.Mu ? "a" : c.A.Mu < c.B.Mu ? "b" : "tie",
                    ScoredItem.From(pathA, null, c.A, name),
                    ScoredItem.From(pathB, null, c.B, name));
                env.Out.WriteLine(ContractJson.Write(doc, ContractJson.Indented.CompareDocument));
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
}
