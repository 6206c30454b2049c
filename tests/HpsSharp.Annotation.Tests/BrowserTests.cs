using System.Diagnostics;
using HpsSharp.Testing;
using OpenQA.Selenium;
using OpenQA.Selenium.Chrome;
using OpenQA.Selenium.Interactions;
using Xunit;

namespace HpsSharp.Annotation.Tests;

/// <summary>A fact that runs only where Debian's chromium and chromium-driver are installed (<c>tools/ci-packages.sh</c>).</summary>
public sealed class ChromiumFactAttribute : FactAttribute
{
    public const string Chromium = "/usr/bin/chromium";
    public const string Driver = "/usr/bin/chromedriver";

    public ChromiumFactAttribute()
    {
        if (!File.Exists(Chromium) || !File.Exists(Driver))
        {
            Skip = $"needs {Chromium} and {Driver} (Debian packages chromium and chromium-driver; run: bash tools/ci-packages.sh)";
        }
    }
}

/// <summary>
/// Two annotators in two real headless Chromium sessions (Selenium, Debian's chromium-driver) log in through the
/// form and answer only with the keyboard; every answer must be in the database with the order that was on screen.
/// </summary>
[Trait("Category", "Integration")]
public sealed class BrowserTests
{
    [ChromiumFact]
    public async Task TwoAnnotatorsLabelWithTheKeyboardAndTheirJudgementsLandInTheDatabase()
    {
        using var ws = new Workspace(pairs: 4, gold: 0);
        await using var host = await AppHost.StartAsync(ws.Options(withGold: false));
        using var alice = Browser.Start(ws.File("chrome-alice"));
        using var bob = Browser.Start(ws.File("chrome-bob"));
        var people = new[] { (Name: "alice", Driver: alice.Driver), (Name: "bob", Driver: bob.Driver) };
        foreach (var (name, driver) in people)
        {
            driver.Navigate().GoToUrl(host.BaseAddress);
            var input = WaitFor(driver, d => d.FindElement(By.Id("name")) is { Displayed: true } e ? e : null, "the name field");
            Assert.Equal(input, driver.SwitchTo().ActiveElement());
            input.SendKeys(name + Keys.Enter);
            WaitFor(driver, d => d.FindElement(By.Id("progress-label")).Text == "0 of 4 pairs" ? true : (bool?)null, "the first pair");
        }

        // Interleaved: alice and bob answer in turn, each key press followed by the page's own progress update.
        string[] keys = [Keys.ArrowLeft, Keys.ArrowRight, Keys.ArrowDown, " "];
        string[] expected = ["left", "right", "tie", "skip"];
        var onScreen = new Dictionary<(string, string), string>();
        for (int step = 0; step < keys.Length; step++)
        {
            foreach (var (name, driver) in people)
            {
                string prompt = driver.FindElement(By.Id("prompt")).Text;
                string left = new Uri(driver.FindElement(By.Id("left")).GetAttribute("src")!).AbsolutePath;
                onScreen[(name, prompt)] = left;
                new Actions(driver).SendKeys(keys[step]).Perform();
                string want = step + 1 == keys.Length ? "4 of 4 pairs" : $"{step + 1} of 4 pairs";
                WaitFor(driver, d => d.FindElement(By.Id("progress-label")).Text == want ? true : (bool?)null, $"{name}'s answer {step + 1}");
            }
        }

        foreach (var (name, driver) in people)
        {
            WaitFor(driver, d => d.FindElement(By.Id("done")).Displayed ? true : (bool?)null, $"{name}'s end page");
        }

        using var store = AnnotationStore.Open(ws.Db, create: false);
        var pairs = store.Pairs().ToDictionary(p => p.Id);
        var judgements = store.Judgements();
        Assert.Equal(8, judgements.Count);
        foreach (var (name, _) in people)
        {
            var mine = judgements.Where(j => j.Annotator == name).OrderBy(j => j.Id).ToList();
            Assert.Equal(expected, mine.Select(j => j.Choice));
            Assert.Equal(4, mine.Select(j => j.PairId).Distinct().Count());
            foreach (var j in mine)
            {
                // The order stored is the order that was on the screen when the key was pressed.
                var pair = pairs[j.PairId];
                string left = onScreen[(name, pair.Prompt)];
                Assert.Equal(left == "/images/" + pair.Path1, j.LeftIsPath1);
                Assert.True(j.Ms > 0, $"{name}: time taken {j.Ms} ms");
            }
        }
    }

    [ChromiumFact]
    public async Task ZoomOpensBothImagesAndEscapeClosesIt()
    {
        using var ws = new Workspace(pairs: 2, gold: 0);
        await using var host = await AppHost.StartAsync(ws.Options(withGold: false));
        using var browser = Browser.Start(ws.File("chrome"));
        var driver = browser.Driver;
        driver.Navigate().GoToUrl(new Uri(host.BaseAddress, "/?annotator=carol"));
        WaitFor(driver, d => d.FindElement(By.Id("task")).Displayed ? true : (bool?)null, "the task");
        WaitFor(driver, d => d.FindElement(By.Id("prompt")).Text.Length > 0 ? true : (bool?)null, "the prompt");
        new Actions(driver).SendKeys("z").Perform();
        WaitFor(driver, d => d.FindElement(By.Id("zoom")).GetDomProperty("open") == "True" ? true : (bool?)null, "the zoom dialog");
        Assert.Equal(2, driver.FindElements(By.CssSelector("#zoom-images img")).Count);

        // Arrow keys do nothing while zoomed: nothing is stored.
        new Actions(driver).SendKeys(Keys.ArrowLeft).Perform();
        new Actions(driver).SendKeys(Keys.Escape).Perform();
        WaitFor(driver, d => d.FindElement(By.Id("zoom")).GetDomProperty("open") == "False" ? true : (bool?)null, "the zoom dialog to close");
        using (var store = AnnotationStore.Open(ws.Db, create: false))
        {
            Assert.Empty(store.Judgements());
        }

        string? shot = Environment.GetEnvironmentVariable("HPS_ANNOTATE_SCREENSHOT");
        if (!string.IsNullOrEmpty(shot))
        {
            // HPS_ANNOTATE_SCREENSHOT=/tmp/page.png saves what the browser showed, to look at the page as a user would.
            ((ITakesScreenshot)driver).GetScreenshot().SaveAsFile(shot);
        }
    }

    private static T WaitFor<T>(IWebDriver driver, Func<IWebDriver, T?> probe, string what, int timeoutMs = 20_000)
    {
        var sw = Stopwatch.StartNew();
        Exception? last = null;
        while (sw.ElapsedMilliseconds < timeoutMs)
        {
            try
            {
                if (probe(driver) is { } value)
                {
                    return value;
                }
            }
            catch (WebDriverException ex)
            {
                last = ex;
            }

            Thread.Sleep(25);
        }

        Assert.Fail($"timed out waiting for {what}; status: '{SafeText(driver, "status")}'" + (last is null ? string.Empty : $"; last error: {last.Message}"));
        return default!;
    }

    private static string SafeText(IWebDriver driver, string id)
    {
        try
        {
            return driver.FindElement(By.Id(id)).Text;
        }
        catch (WebDriverException)
        {
            return "?";
        }
    }

    /// <summary>Headless Chromium driven by Debian's chromedriver; never Selenium Manager (no downloads).</summary>
    private sealed class Browser : IDisposable
    {
        private Browser(ChromeDriver driver) => Driver = driver;

        public ChromeDriver Driver { get; }

        public static Browser Start(string profileDir)
        {
            var service = ChromeDriverService.CreateDefaultService(Path.GetDirectoryName(ChromiumFactAttribute.Driver)!, Path.GetFileName(ChromiumFactAttribute.Driver));
            service.SuppressInitialDiagnosticInformation = true;
            service.HideCommandPromptWindow = true;
            var options = new ChromeOptions { BinaryLocation = ChromiumFactAttribute.Chromium };
            options.AddArguments("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--window-size=1280,860", "--hide-scrollbars", $"--user-data-dir={profileDir}");
            return new Browser(new ChromeDriver(service, options, TimeSpan.FromSeconds(60)));
        }

        public void Dispose()
        {
            Driver.Quit();
            Driver.Dispose();
        }
    }
}
