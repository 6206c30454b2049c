using System.CommandLine;
using HpsSharp.Cli.Infrastructure;
using HpsSharp.Diagnostics;
using Spectre.Console;

namespace HpsSharp.Cli.Commands;

/// <summary><c>hps doctor [--model DIR] [--json] [--verify]</c>: environment and model-folder diagnosis (HpsSharp.Diagnostics).</summary>
public sealed class DoctorCommand : ICommandFactory
{
    public Command Create(CliEnvironment env)
    {
        ArgumentNullException.ThrowIfNull(env);
        var model = new Option<string?>("--model") { Description = "Also check this model folder: files, checksums, tokenizer, and the memory it needs" };
        var json = new Option<bool>("--json") { Description = "Print {\"ok\", \"checks\": [{\"name\", \"ok\", \"detail\", \"fix\", \"required\"}]} on stdout" };
        var verify = new Option<bool>("--verify") { Description = "Re-hash the weights against their SHA-256 (about a minute per 16 GB)" };
        var cmd = new Command("doctor", "Diagnose the set-up: .NET, libtorch (and its GLIBCXX fix), CPU features, threads, memory, disk, CUDA, the Hugging Face cache and a model folder; exit 1 when something needed is missing")
        {
            model, json, verify,
        };
        cmd.SetAction(parse =>
        {
            var report = Doctor.Run(new DoctorOptions(parse.GetValue(model), parse.GetValue(verify), OptionNames: OptionFlags.Names));
            if (parse.GetValue(json))
            {
                env.Out.WriteLine(report.ToJson());
            }
            else
            {
                Write(env, report);
            }

            return report.Ok ? CliApp.Ok : CliApp.UserError;
        });
        return cmd;
    }

    private static void Write(CliEnvironment env, DoctorReport report)
    {
        foreach (var c in report.Checks)
        {
            var mark = c.Ok ? "[green]ok[/]  " : c.Required ? "[red]FAIL[/]" : "[yellow]warn[/]";
            var plain = c.Ok ? "ok  " : c.Required ? "FAIL" : "warn";
            if (env.Interactive)
            {
                env.Console.MarkupLine($"{mark} [bold]{Markup.Escape(c.Name)}[/]: {Markup.Escape(c.Detail)}");
                if (c.Fix is not null)
                {
                    env.Console.MarkupLine($"      [bold]fix:[/] {Markup.Escape(c.Fix)}");
                }
            }
            else
            {
                env.Out.WriteLine($"{plain} {c.Name}: {c.Detail}");
                if (c.Fix is not null)
                {
                    env.Out.WriteLine($"      fix: {c.Fix}");
                }
            }
        }

        var failed = report.Checks.Count(c => !c.Ok && c.Required);
        var warned = report.Checks.Count(c => !c.Ok && !c.Required);
        env.Out.WriteLine(failed == 0
            ? $"all required checks passed{(warned > 0 ? $" ({warned} warning(s))" : string.Empty)}"
            : $"{failed} required check(s) failed: apply the fixes above");
    }
}
