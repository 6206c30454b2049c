using System.CommandLine;
using System.Text.Json;
using HpsSharp.Cli.Infrastructure;
using HpsSharp.Core.Scoring;
using HpsSharp.Testing;
using Xunit;

namespace HpsSharp.Cli.Tests;

/// <summary>The CLI's promises: usage errors exit 2 everywhere, one-line errors, whole file names, plain JSON.</summary>
[Trait("Category", "Integration")]
public sealed class UsageContractTests : IDisposable
{
    private const string Unknown = "--no-such-option-zz";

    private readonly TempDir _tmp = TestPaths.TempDir("hps-cli-usage-");

    public void Dispose() => _tmp.Dispose();

    /// <summary>A loader that fails the test if a command got as far as loading a model.</summary>
    private static IScorer NoModel(ScorerOptions o) => throw new InvalidOperationException($"the command ran (loaded {o.ModelDir}) instead of refusing the usage error");

    /// <summary>Every runnable command under the root, as its path of names (e.g. ["model", "inspect"]).</summary>
    private static List<(string[] Path, Command Command)> LeafCommands()
    {
        var root = CliApp.BuildRoot(new CliEnvironment(TextWriter.Null, TextWriter.Null, interactive: false));
        var found = new List<(string[], Command)>();
        void Walk(Command c, string[] path)
        {
            if (c.Subcommands.Count == 0)
            {
                found.Add((path, c));
            }

            foreach (var s in c.Subcommands)
            {
                Walk(s, [.. path, s.Name]);
            }
        }

        foreach (var c in root.Subcommands)
        {
            Walk(c, [c.Name]);
        }

        return found;
    }

    /// <summary>Required options with a value of the right type, and one value per required argument slot.</summary>
    private List<string> Satisfy(Command command)
    {
        var args = new List<string>();
        foreach (var o in command.Options.Where(o => o.Required))
        {
            args.Add(o.Name);
            var t = Nullable.GetUnderlyingType(o.ValueType) ?? o.ValueType;
            if (t == typeof(bool))
            {
                continue;
            }

            args.Add(t == typeof(int) || t == typeof(long) || t == typeof(double) ? "1" : _tmp.File("x"));
        }

        foreach (var a in command.Arguments)
        {
            for (int i = 0; i < Math.Max(1, a.Arity.MinimumNumberOfValues); i++)
            {
                args.Add(_tmp.File("in.png"));
            }
        }

        return args;
    }

    [Fact]
    public void TheCommandTreeIsEnumerated()
    {
        var names = LeafCommands().Select(c => string.Join(' ', c.Path)).ToList();
        Assert.Contains("score", names);
        Assert.Contains("model inspect", names);
        Assert.True(names.Count >= 14, string.Join(", ", names));
    }

    [Fact]
    public async Task EveryCommandRefusesAnUnknownOptionWithExitCode2()
    {
        var failures = new List<string>();
        foreach (var (path, command) in LeafCommands())
        {
            // Alone, after a complete command line, and before the positional arguments.
            List<string[]> variants =
            [
                [.. path, Unknown],
                [.. path, .. Satisfy(command), Unknown],
                [.. path, Unknown, .. Satisfy(command)],
            ];
            foreach (var args in variants)
            {
                var (code, stdout, stderr) = await CliHarness.RunAsync(NoModel, args);
                if (code != 2 || stdout.Length != 0 || !stderr.Contains($"'{Unknown}'", StringComparison.Ordinal))
                {
                    failures.Add($"hps {string.Join(' ', args)} → exit {code}, stderr: {stderr.ReplaceLineEndings(" | ")}");
                }
            }
        }

        Assert.True(failures.Count == 0, string.Join("\n", failures));
    }

    [Fact]
    public async Task ADoubleDashStillLetsAFileNameStartWithADash()
    {
        File.Copy(TestPaths.Image("coins.png"), _tmp.File("-odd.png"));
        var (code, stdout, stderr) = await CliHarness.RunAsync(_ => new FakeScorer(), "score", "--model", _tmp.Path, "--prompt", "p", "--json", "--", _tmp.File("-odd.png"));
        Assert.True(code == 0, stderr);
        Assert.Contains("-odd.png", stdout, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("train", "--model", "MODEL")] // no --data, no --out
    [InlineData("train", "--model", "MODEL", "--data", "d.json", "--out", "o", "--epochs", "many")]
    [InlineData("tokenize", "--model", "MODEL")] // neither --text nor --prompt
    [InlineData("tokenize", "--model", "MODEL", "--prompt", "a cat")] // --prompt without --image
    [InlineData("serve", "--model", "MODEL", "--urls", "garbage")]
    [InlineData("serve", "--model", "MODEL", "--urls", "ftp://127.0.0.1:21")]
    public async Task OptionProblemsFoundByACommandAreUsageErrors(params string[] args)
    {
        var (code, stdout, stderr) = await CliHarness.RunAsync(NoModel, args.Select(a => a == "MODEL" ? _tmp.Path : a).ToArray());
        Assert.True(code == 2, $"exit {code}: {stderr}");
        Assert.Equal(string.Empty, stdout);
        Assert.Contains("hps --help", stderr, StringComparison.Ordinal);
    }

    [Fact]
    public async Task ALongErrorMessageIsOneLineWhenRedirected()
    {
        var missing = Path.Combine(_tmp.Path, new string('d', 90), new string('f', 120) + ".png");
        var (code, _, stderr) = await CliHarness.RunAsync(NoModel, "score", "--model", _tmp.Path, "--prompt", "p", missing);
        Assert.Equal(1, code);
        var lines = stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Single(lines);
        Assert.Equal($"error: image not found: {missing}", lines[0].TrimEnd());
    }

    [Fact]
    public async Task TablesKeepLongFileNamesWhole()
    {
        var name = _tmp.File(new string('n', 150) + ".png");
        File.Copy(TestPaths.Image("coins.png"), name);
        var (code, stdout, stderr) = await CliHarness.RunAsync(_ => new FakeScorer(), "score", "--model", _tmp.Path, "--prompt", "coins", name);
        Assert.True(code == 0, stderr);
        Assert.Contains(name, stdout, StringComparison.Ordinal);
        (code, stdout, stderr) = await CliHarness.RunAsync(_ => new FakeScorer(), "rank", "--model", _tmp.Path, "--prompt", "coins", name, TestPaths.Image("rocket.jpg"));
        Assert.True(code == 0, stderr);
        Assert.Contains(name, stdout, StringComparison.Ordinal);
    }

    [Fact]
    public async Task JsonKeepsPlusSignsAndNonAsciiAsTheyAre()
    {
        const string prompt = "a + b × c, «café» <tag> & 'q'";
        var (code, stdout, stderr) = await CliHarness.RunAsync(_ => new FakeScorer(), "score", "--model", _tmp.Path, "--prompt", prompt, "--json", TestPaths.Image("coins.png"));
        Assert.True(code == 0, stderr);
        Assert.Contains($"\"prompt\": \"{prompt}\"", stdout, StringComparison.Ordinal);
        Assert.DoesNotContain("\\u", stdout, StringComparison.Ordinal);
        using var doc = JsonDocument.Parse(stdout); // still valid JSON
        Assert.Equal(prompt, doc.RootElement.GetProperty("results")[0].GetProperty("prompt").GetString());

        (code, stdout, stderr) = await CliHarness.RunAsync("model", "inspect", TestPaths.Fixture("hpsv3-tiny"), "--json", "--summary");
        Assert.True(code == 0, stderr);
        Assert.Contains("backbone + rm_head", stdout, StringComparison.Ordinal);
        Assert.Contains("2×32", stdout, StringComparison.Ordinal);
    }
}
