using System.CommandLine;
using HpsSharp.Cli.Infrastructure;
using HpsSharp.Core.Scoring.Contracts;
using HpsSharp.Core.Safetensors;
using HpsSharp.Hub.Checkpoints;

namespace HpsSharp.Cli.Commands;

/// <summary><c>hps model convert</c>: between the flat and language_model key layouts, bf16/fp32, one file and shards.</summary>
internal static class ModelConvertCommand
{
    public static Command Create(CliEnvironment env)
    {
        var input = new Argument<string>("INPUT") { Description = "A .safetensors file, a model.safetensors.index.json, or a model folder" };
        var output = new Option<string>("--out") { Description = "Output: a .safetensors file name, or a folder (model.safetensors, or shards + index; config/tokenizer files are copied)", Required = true };
        var layout = new Option<string>("--layout") { Description = "Key layout: keep, flat (visual.*/model.*, as released) or language_model (model.visual.*/model.language_model.*)", DefaultValueFactory = _ => "keep" };
        var dtype = new Option<string>("--dtype") { Description = "keep, bf16 (backbone; rm_head stays F32) or fp32", DefaultValueFactory = _ => "keep" };
        var shardSize = new Option<string?>("--shard-size") { Description = "Split into shards of at most this size (e.g. 5GB) with a model.safetensors.index.json" };
        var overwrite = new Option<bool>("--overwrite") { Description = "Replace weights already in the output folder" };
        var dryRun = new Option<bool>("--dry-run") { Description = "Print what would be written (from headers only) and stop" };
        var json = new Option<bool>("--json") { Description = "Print the written files as one JSON document on stdout" };
        layout.AcceptOnlyFromAmong("keep", "flat", "language_model");
        dtype.AcceptOnlyFromAmong("keep", "bf16", "fp32");
        var cmd = new Command("convert", "Convert a checkpoint between the flat and model.language_model.* layouts, bf16/fp32, one file and shards (streaming, bounded memory)")
        {
            input, output, layout, dtype, shardSize, overwrite, dryRun, json,
        };
        cmd.SetAction(async (parse, ct) =>
        {
            var options = new ConvertOptions
            {
                Layout = parse.GetValue(layout) switch { "flat" => TargetLayout.Flat, "language_model" => TargetLayout.LanguageModel, _ => TargetLayout.Keep },
                Dtype = parse.GetValue(dtype) switch { "bf16" => TargetDtype.BF16, "fp32" => TargetDtype.F32, _ => TargetDtype.Keep },
                MaxShardBytes = parse.GetValue(shardSize) is { } s ? CheckpointConverter.ParseSize(s) : null,
                Overwrite = parse.GetValue(overwrite),
            };
            var source = parse.GetValue(input)!;
            var target = parse.GetValue(output)!;
            ConvertPlan plan;
            if (parse.GetValue(dryRun))
            {
                using var model = SafetensorsModel.Open(source);
                plan = CheckpointConverter.Plan(model, target, options);
            }
            else
            {
                plan = await RunConvertAsync(env, p => CheckpointConverter.Convert(source, target, options, p, ct)).ConfigureAwait(false);
            }

            if (parse.GetValue(json))
            {
                env.Out.WriteLine(ConvertJson(plan, parse.GetValue(dryRun)));
                return CliApp.Ok;
            }

            foreach (var shard in plan.Shards)
            {
                env.Error.WriteLine($"{(parse.GetValue(dryRun) ? "would write" : "wrote")} {Path.Combine(plan.OutputDir, shard.FileName)}: {shard.Tensors.Count} tensors, {ModelCommand.Bytes(shard.Bytes)}");
            }

            if (plan.IndexFile is not null)
            {
                env.Error.WriteLine($"{(parse.GetValue(dryRun) ? "would write" : "wrote")} {Path.Combine(plan.OutputDir, plan.IndexFile)}");
            }

            if (plan.SideFiles.Count > 0)
            {
                env.Error.WriteLine($"{(parse.GetValue(dryRun) ? "would copy" : "copied")} {string.Join(", ", plan.SideFiles)}");
            }

            env.Out.WriteLine(plan.Shards.Count == 1 && plan.IndexFile is null && plan.SideFiles.Count == 0
                ? Path.Combine(plan.OutputDir, plan.Shards[0].FileName)
                : plan.OutputDir);
            return CliApp.Ok;
        });
        return cmd;
    }

    internal static string ConvertJson(ConvertPlan plan, bool dryRun) => ContractJson.Write(
        new ModelConvertDocument(
            dryRun, plan.OutputDir, plan.TensorCount, plan.TotalBytes,
            [.. plan.Shards.Select(sh => new ModelConvertFileRecord(sh.FileName, sh.Tensors.Count, sh.Bytes))],
            plan.IndexFile, plan.SideFiles),
        ContractJson.Indented.ModelConvertDocument);

    /// <summary>A byte progress bar on a terminal; a plain line per tenth otherwise. The conversion itself is synchronous.</summary>
    private static Task<ConvertPlan> RunConvertAsync(CliEnvironment env, Func<IProgress<ConvertProgress>, ConvertPlan> work) =>
        ProgressReporter.RunAsync(env, new ProgressView<ConvertProgress>
        {
            Title = "converting",
            Done = p => p.BytesDone,
            Total = p => p.TotalBytes,
            Bytes = true,
            Line = (p, line) => line.Due(p.BytesDone, p.TotalBytes) ? $"converting: {ModelCommand.Bytes(p.BytesDone)} / {ModelCommand.Bytes(p.TotalBytes)}" : null,
        }, p => Task.Run(() => work(p)));
}
