using System.CommandLine;
using System.Globalization;
using HpsSharp.Cli.Infrastructure;
using HpsSharp.Core.Safetensors;
using HpsSharp.Hub.Checkpoints;
using Spectre.Console;

namespace HpsSharp.Cli.Commands;

/// <summary>
/// <c>hps model inspect</c>: a checkpoint's tensors from its headers, checked against the HPSv3 table by the
/// TorchSharp-free <see cref="CheckpointInspector"/> (libtorch is never loaded).
/// </summary>
internal static class ModelInspectCommand
{
    public static Command Create(CliEnvironment env)
    {
        var path = new Argument<string>("PATH") { Description = "A .safetensors file, a model.safetensors.index.json, or a model folder" };
        var json = new Option<bool>("--json") { Description = "Print the report as one JSON document on stdout" };
        var summary = new Option<bool>("--summary") { Description = "Leave out the per-tensor table (and the tensors array with --json)" };
        var cmd = new Command("inspect", "List a checkpoint's tensors (headers only), detect its architecture and key layout, and check it against the HPSv3-7B tensor table")
        {
            path, json, summary,
        };
        cmd.SetAction(parse =>
        {
            var report = CheckpointInspector.Inspect(parse.GetValue(path)!);
            if (parse.GetValue(json))
            {
                env.Out.WriteLine(report.ToJson(includeTensors: !parse.GetValue(summary)));
                return CliApp.Ok;
            }

            if (!parse.GetValue(summary))
            {
                WriteTensorTable(env, report);
            }

            Say(env, "weights", report.WeightsSource + (report.Files.Count > 1 ? $" ({report.Files.Count} shards)" : string.Empty));
            Say(env, "tensors", $"{report.Tensors.Count}, {report.Parameters.ToString("N0", CultureInfo.InvariantCulture)} parameters, {ModelCommand.Bytes(report.TotalBytes)}");
            Say(env, "dtypes", string.Join(", ", report.Dtypes.Select(d => $"{d.Dtype} × {d.Count} ({ModelCommand.Bytes(d.Bytes)})")));
            Say(env, "layout", LayoutText(report.Layout));
            Say(env, "architecture", report.Architecture.Describe());
            var (released, why) = ReleasedVerdict(report);
            Say(env, "released HPSv3", why, released ? "green" : "yellow", released ? "yes" : "no");
            WriteCheck(env, report.Released);
            if (report.Config is not null)
            {
                WriteCheck(env, report.Config);
                if (!report.Released.Ok && report.Config.Ok)
                {
                    Say(env, "note", "not the released HPSv3-7B: a model of other dimensions, consistent with its config.json");
                }
            }

            return CliApp.Ok;
        });
        return cmd;
    }

    /// <summary>The plain answer to "is this the released HPSv3?" and why (see <see cref="CheckpointReport.IsReleasedHpsv3"/>).</summary>
    internal static (bool Released, string Why) ReleasedVerdict(CheckpointReport report)
    {
        if (report.IsReleasedHpsv3)
        {
            return (true, $"— {Hpsv3Layout.ReleasedFileName} with the released tensors, shapes, dtypes and layout (headers checked; the values are not hashed)");
        }

        if (report.Released.MatchesRelease)
        {
            return (false, $"— the released tensor table, but in {string.Join(", ", report.Files.Select(Path.GetFileName))}, not one {Hpsv3Layout.ReleasedFileName} (a fine-tune or a copy; scores are labelled as not the released model)");
        }

        return report.Released.Ok
            ? (false, "— HPSv3-7B tensors with a different layout or dtypes than the release (convert it, or treat it as another model)")
            : (false, "— not the HPSv3-7B tensor table (see the check below); its scores are not HPSv3 preference scores");
    }

    private static string LayoutText(Hpsv3KeyLayout layout) => layout switch
    {
        Hpsv3KeyLayout.Flat => "flat (visual.*, model.*: transformers ≤ 4.51, as released)",
        Hpsv3KeyLayout.Nested => "language_model (model.visual.*, model.language_model.*: transformers ≥ 4.52)",
        Hpsv3KeyLayout.Mixed => "mixed (both spellings: not loadable as is)",
        _ => "unknown (no Qwen2-VL keys)",
    };

    /// <summary>A labelled line: bold label on a terminal, plain "label: text" when redirected (no wrapping at 80 columns).</summary>
    private static void Say(CliEnvironment env, string label, string text, string? colour = null, string? coloured = null)
    {
        if (env.Interactive)
        {
            var head = coloured is null ? string.Empty : $"[{colour}]{Markup.Escape(coloured)}[/] ";
            env.Console.MarkupLine($"[bold]{Markup.Escape(label)}:[/] {head}{Markup.Escape(text)}");
        }
        else
        {
            env.Out.WriteLine($"{label}: {(coloured is null ? string.Empty : coloured + " ")}{text}");
        }
    }

    private static void WriteTensorTable(CliEnvironment env, CheckpointReport report)
    {
        bool sharded = report.Files.Count > 1;
        var rows = report.Tensors.Select(t => sharded
            ? new[] { t.Name, t.Dtype, CheckpointInspector.Shape(t.Shape), ModelCommand.Bytes(t.Bytes), t.File }
            : new[] { t.Name, t.Dtype, CheckpointInspector.Shape(t.Shape), ModelCommand.Bytes(t.Bytes) }).ToList();
        string[] header = sharded ? ["name", "dtype", "shape", "bytes", "file"] : ["name", "dtype", "shape", "bytes"];
        if (env.Interactive)
        {
            var table = new Table().AddColumns(header);
            table.Columns[3].RightAligned();
            table.Columns[0].NoWrap();
            foreach (var row in rows)
            {
                table.AddRow(row.Select(Markup.Escape).ToArray());
            }

            env.Console.Write(table);
            return;
        }

        // Redirected: aligned plain columns, one tensor per line, easy to grep.
        var widths = header.Select((h, i) => Math.Max(h.Length, rows.Count == 0 ? 0 : rows.Max(r => r[i].Length))).ToArray();
        string Line(string[] cells) => string.Join("  ", cells.Select((c, i) => i == 3 ? c.PadLeft(widths[i]) : c.PadRight(widths[i]))).TrimEnd();
        env.Out.WriteLine(Line(header));
        foreach (var row in rows)
        {
            env.Out.WriteLine(Line(row));
        }

        env.Out.WriteLine();
    }

    private static void WriteCheck(CliEnvironment env, LayoutCheckReport r)
    {
        const int Shown = 12;
        var expected = r.Dimensions.TensorCount;
        var label = $"check vs {r.Against}";
        if (r.Ok)
        {
            var note = r.MatchesRelease && r.Dimensions == Hpsv3Dimensions.Released7B ? "matches the released file (keys, shapes, dtypes, layout)"
                : r.MatchesRelease ? "keys, dtypes and layout as released, at this config's dimensions"
                : r.DtypeDifferences.Count > 0 ? $"loadable; {r.DtypeDifferences.Count} dtype(s) differ from the release (BF16 backbone, F32 head)"
                : "loadable; keys in another layout than the release";
            Say(env, label, $"— all {expected} tensors present with their shapes; {note}", "green", "OK");
            return;
        }

        Say(env, label, $"— {r.Check.Missing.Count} missing, {r.Check.Unexpected.Count} unexpected, {r.Check.Mismatched.Count} wrong shape/dtype (of {expected} expected)", "red", "does not match");
        void List(string title, IReadOnlyList<string> items)
        {
            if (items.Count == 0)
            {
                return;
            }

            env.Out.WriteLine($"  {title}:");
            foreach (var i in items.Take(Shown))
            {
                env.Out.WriteLine($"    {i}");
            }

            if (items.Count > Shown)
            {
                env.Out.WriteLine($"    … and {items.Count - Shown} more (--json lists all)");
            }
        }

        List("missing", r.Check.Missing);
        List("unexpected", r.Check.Unexpected);
        List("wrong shape/dtype", r.Check.Mismatched.Select(m => m.ToString()).ToList());
    }
}
