using System.CommandLine;
using HpsSharp.Cli.Infrastructure;
using HpsSharp.Core;
using HpsSharp.Core.Imaging;
using HpsSharp.Core.Scoring;
using HpsSharp.Core.Scoring.Contracts;
using HpsSharp.Core.Text;

namespace HpsSharp.Cli.Commands;

/// <summary><c>hps tokenize</c>: token ids of raw text, or the exact model input for a prompt and an image.</summary>
public sealed class TokenizeCommand : ICommandFactory
{
    public Command Create(CliEnvironment env)
    {
        ArgumentNullException.ThrowIfNull(env);
        var model = new Option<string>("--model") { Description = "Model folder holding the tokenizer files", Required = true };
        var text = new Option<string?>("--text") { Description = "Raw text to tokenize (no template)" };
        var prompt = new Option<string?>("--prompt") { Description = "HPSv3 prompt: print the full model input (template, instruction, image pads, <|Reward|>)" };
        var image = new Option<string?>("--image") { Description = "The image for --prompt (its size decides the number of image tokens)" };
        var pixels = new PixelOptions();
        var json = new Option<bool>("--json") { Description = "Print {\"ids\": [...]} (and \"reward_index\") on stdout" };
        var cmd = new Command("tokenize", "Token ids of raw text (--text), or the exact ids the model sees for --prompt and --image");
        cmd.Options.Add(model);
        cmd.Options.Add(text);
        cmd.Options.Add(prompt);
        cmd.Options.Add(image);
        pixels.AddTo(cmd);
        cmd.Options.Add(json);
        cmd.Validators.Add(r =>
        {
            // Contradictory or missing inputs are usage errors (exit 2), found before anything is read.
            if ((r.GetResult(text) is null) == (r.GetResult(prompt) is null))
            {
                r.AddError("give exactly one of --text or --prompt");
            }
            else if (r.GetResult(prompt) is not null && r.GetResult(image) is null)
            {
                r.AddError("--image is required with --prompt (the image size sets the number of image tokens)");
            }
        });
        cmd.SetAction(parse =>
        {
            var dir = parse.GetValue(model)!;
            if (!Directory.Exists(dir))
            {
                throw new DirectoryNotFoundException($"--model: folder not found: {dir}");
            }

            var t = parse.GetValue(text);
            var p = parse.GetValue(prompt);
            var img = parse.GetValue(image);
            if ((t is null) == (p is null))
            {
                throw new UserInputException("--text/--prompt", "give exactly one of --text or --prompt");
            }

            if (p is not null && img is null)
            {
                throw new UserInputException("--image", "required with --prompt (the image size sets the number of image tokens)");
            }

            var tokenizer = Qwen2Tokenizer.FromDirectory(dir);
            int[] ids;
            int? rewardIndex = null;
            if (t is not null)
            {
                ids = tokenizer.Encode(t);
            }
            else
            {
                if (!File.Exists(img))
                {
                    throw new FileNotFoundException($"image not found: {img}", img);
                }

                var processed = new Qwen2VLImageProcessor(pixels.Read(parse)).Process(ImageInput.FromPath(img!));
                var built = Hpsv3Prompt.Build(tokenizer, p!, processed.MergedTokens);
                ids = built.InputIds;
                rewardIndex = built.RewardIndex;
            }

            if (parse.GetValue(json))
            {
                env.Out.WriteLine(ContractJson.Write(new TokenizeDocument(ids, rewardIndex), ContractJson.Compact.TokenizeDocument));
            }
            else
            {
                env.Out.WriteLine(string.Join(' ', ids));
                env.Error.WriteLine(rewardIndex is { } r ? $"{ids.Length} tokens, <|Reward|> at {r}" : $"{ids.Length} tokens");
            }

            return CliApp.Ok;
        });
        return cmd;
    }
}
