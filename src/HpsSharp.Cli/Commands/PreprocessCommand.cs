using System.CommandLine;
using HpsSharp.Cli.Infrastructure;
using HpsSharp.Core.Imaging;
using HpsSharp.Core.Safetensors;
using HpsSharp.Core.Scoring;

namespace HpsSharp.Cli.Commands;

/// <summary><c>hps preprocess</c>: the exact pixel tensor the model sees, written as safetensors.</summary>
public sealed class PreprocessCommand : ICommandFactory
{
    public Command Create(CliEnvironment env)
    {
        ArgumentNullException.ThrowIfNull(env);
        var model = new Option<string>("--model") { Description = "Model folder", Required = true };
        var output = new Option<string>("--out") { Description = "Output .safetensors file (pixel_values F32 [n,1176], image_grid_thw I64 [1,3])", Required = true };
        var pixels = new PixelOptions();
        var image = new Argument<string>("IMAGE") { Description = "Image file" };
        var cmd = new Command("preprocess", "Write the exact pixel_values and image_grid_thw HPSv3 computes for an image");
        cmd.Options.Add(model);
        cmd.Options.Add(output);
        pixels.AddTo(cmd);
        cmd.Arguments.Add(image);
        cmd.SetAction(parse =>
        {
            var dir = parse.GetValue(model)!;
            if (!Directory.Exists(dir))
            {
                throw new DirectoryNotFoundException($"--model: folder not found: {dir}");
            }

            var path = parse.GetValue(image)!;
            if (!File.Exists(path))
            {
                throw new FileNotFoundException($"image not found: {path}", path);
            }

            var p = new Qwen2VLImageProcessor(pixels.Read(parse)).Process(ImageInput.FromPath(path));
            var outPath = parse.GetValue(output)!;
            SafetensorsWriter.Write(outPath,
            [
                SafetensorsWriter.Entry.FromFloat32("pixel_values", p.PixelValues, [p.Rows, ProcessedImage.RowLength]),
                SafetensorsWriter.Entry.FromInt64("image_grid_thw", [p.GridT, p.GridH, p.GridW], [1, 3]),
            ], new Dictionary<string, string> { ["format"] = "pt", ["source"] = Path.GetFileName(path) });
            env.Error.WriteLine($"{path}: grid {p.GridT}x{p.GridH}x{p.GridW}, {p.Rows} patches, {p.MergedTokens} image tokens -> {outPath}");
            return CliApp.Ok;
        });
        return cmd;
    }
}
