using System.Diagnostics;
using System.Net;
using System.Reflection;
using System.Text.RegularExpressions;
using Xunit;

namespace HpsSharp.Annotation.Tests;

/// <summary>
/// A real <c>hps annotate serve</c> child process is killed with SIGKILL between judgements (and once between
/// showing a pair and answering it); every answer it acknowledged must be in the database afterwards, and the
/// restarted app must carry on without serving an answered pair again.
/// </summary>
[Trait("Category", "Integration")]
public sealed partial class CrashTests
{
    [Fact]
    public async Task KillNineBetweenJudgementsLosesNothingAnswered()
    {
        using var ws = new Workspace(pairs: 6, gold: 1);
        var acknowledged = new List<(long Pair, string Annotator, string Choice)>();
        long shownToB;
        bool shownToBLeftIsPath1;
        string[] choices = ["left", "right", "tie", "skip"];

        // Run 1: a answers three pairs, b is shown one and does not answer; then SIGKILL.
        await using (var child = await HpsChild.StartAsync(ws))
        {
            for (int i = 0; i < 3; i++)
            {
                var next = (await child.Host.NextAsync("a"))!;
                long id = (long)next["pair_id"]!;
                using var r = await child.Host.JudgeAsync(id, "a", choices[i]);
                Assert.Equal(HttpStatusCode.OK, r.StatusCode);
                acknowledged.Add((id, "a", choices[i]));
            }

            var shown = (await child.Host.NextAsync("b"))!;
            shownToB = (long)shown["pair_id"]!;
            var pair = ws.PairRecords[(int)shownToB];
            shownToBLeftIsPath1 = ((string)shown["left"]!).EndsWith(pair.Path1, StringComparison.Ordinal);
            child.KillNine();
        }

        Assert.True(File.Exists(ws.Db + "-wal"), "a killed process leaves its WAL behind; the test would not test recovery otherwise");
        AssertStored(ws, acknowledged);

        // Run 2: same database. b answers the pair shown before the crash, in the order it was shown; a carries on.
        await using (var child = await HpsChild.StartAsync(ws))
        {
            using (var r = await child.Host.JudgeAsync(shownToB, "b", "left"))
            {
                Assert.Equal(HttpStatusCode.OK, r.StatusCode);
            }

            acknowledged.Add((shownToB, "b", "left"));
            using (var dup = await child.Host.JudgeAsync(acknowledged[0].Pair, "a", "right"))
            {
                Assert.Equal(HttpStatusCode.Conflict, dup.StatusCode);
            }

            for (int i = 0; i < 2; i++)
            {
                var next = (await child.Host.NextAsync("a"))!;
                long id = (long)next["pair_id"]!;
                Assert.DoesNotContain(id, acknowledged.Where(x => x.Annotator == "a").Select(x => x.Pair));
                using var r = await child.Host.JudgeAsync(id, "a", "right");
                Assert.Equal(HttpStatusCode.OK, r.StatusCode);
                acknowledged.Add((id, "a", "right"));
            }

            child.KillNine();
        }

        var stored = AssertStored(ws, acknowledged);
        var bVote = stored.Single(j => j.Annotator == "b");
        Assert.Equal(shownToBLeftIsPath1, bVote.LeftIsPath1);
        Assert.Equal(shownToBLeftIsPath1 ? Vote.Path1 : Vote.Path2, bVote.Vote);

        // Run 3: a gets every remaining pair exactly once.
        await using (var child = await HpsChild.StartAsync(ws))
        {
            var seen = acknowledged.Where(x => x.Annotator == "a").Select(x => x.Pair).ToHashSet();
            while (await child.Host.NextAsync("a") is { } next)
            {
                long id = (long)next["pair_id"]!;
                Assert.True(seen.Add(id), $"pair {id} served twice to a");
                using var r = await child.Host.JudgeAsync(id, "a", "tie");
                Assert.Equal(HttpStatusCode.OK, r.StatusCode);
            }

            Assert.Equal(6 + 1, seen.Count);
        }
    }

    private static IReadOnlyList<Judgement> AssertStored(Workspace ws, List<(long Pair, string Annotator, string Choice)> acknowledged)
    {
        using var store = AnnotationStore.Open(ws.Db, create: false);
        var stored = store.Judgements();
        Assert.Equal(acknowledged.OrderBy(x => x.Annotator).ThenBy(x => x.Pair), stored.Select(j => (j.PairId, j.Annotator, j.Choice)).OrderBy(x => x.Annotator).ThenBy(x => x.PairId));
        return stored;
    }

    /// <summary>The built <c>hps</c> run as a child process on a free loopback port.</summary>
    private sealed partial class HpsChild : IAsyncDisposable
    {
        private readonly Process _process;

        private HpsChild(Process process, AppHostClient host)
        {
            _process = process;
            Host = host;
        }

        public AppHostClient Host { get; }

        public static async Task<HpsChild> StartAsync(Workspace ws)
        {
            string dir = typeof(CrashTests).Assembly.GetCustomAttributes<AssemblyMetadataAttribute>().Single(a => a.Key == "HpsCliDir").Value!;
            string exe = Path.Combine(dir, "hps");
            Assert.True(File.Exists(exe), $"the hps apphost is not built at {exe}");
            var psi = new ProcessStartInfo(exe, ["annotate", "serve", "--pairs", ws.PairsFile, "--images", ws.Images, "--db", ws.Db, "--gold", ws.GoldFile, "--gold-rate", "0.2", "--urls", "http://127.0.0.1:0"])
            {
                RedirectStandardOutput = true,
                RedirectStandardError = true,
                UseShellExecute = false,
            };
            psi.Environment["DOTNET_NOLOGO"] = "1";
            var process = Process.Start(psi)!;
            var listening = new TaskCompletionSource<string>(TaskCreationOptions.RunContinuationsAsynchronously);
            var log = new System.Text.StringBuilder();
            void OnLine(string? line)
            {
                if (line is null)
                {
                    return;
                }

                lock (log)
                {
                    log.AppendLine(line);
                }

                var m = ListeningRegex().Match(line);
                if (m.Success)
                {
                    listening.TrySetResult(m.Groups[1].Value);
                }
            }

            process.OutputDataReceived += (_, e) => OnLine(e.Data);
            process.ErrorDataReceived += (_, e) => OnLine(e.Data);
            process.BeginOutputReadLine();
            process.BeginErrorReadLine();
            var exited = process.WaitForExitAsync();
            var first = await Task.WhenAny(listening.Task, exited, Task.Delay(TimeSpan.FromSeconds(60)));
            if (first != listening.Task)
            {
                process.Kill();
                lock (log)
                {
                    Assert.Fail("hps annotate serve did not start listening:\n" + log);
                }
            }

            var child = new HpsChild(process, new AppHostClient(new Uri(await listening.Task)));
            return child;
        }

        /// <summary>SIGKILL: no shutdown handlers, no checkpoint, no flush beyond what was committed.</summary>
        public void KillNine()
        {
            _process.Kill(entireProcessTree: false);
            _process.WaitForExit();
            Assert.Equal(137, _process.ExitCode);
        }

        public async ValueTask DisposeAsync()
        {
            Host.Dispose();
            if (!_process.HasExited)
            {
                _process.Kill();
                await _process.WaitForExitAsync();
            }

            _process.Dispose();
        }

        [GeneratedRegex(@"Now listening on: (http://\S+)")]
        private static partial Regex ListeningRegex();
    }
}
