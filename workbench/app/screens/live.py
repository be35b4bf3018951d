"""The live workbench: load a pair, generate, steer the engine while it generates, measure the baseline.

Models load, runs generate and measurements run in thread workers that post typed messages
(app/messages.py); this screen handles them on the UI thread. Settings go the other way through the
engine's LiveSettings, read at the start of each step. Errors a user can cause arrive as WorkbenchError
and become one notification; the screen keeps its previous state.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from textual import on
from textual.message import Message
from textual.reactive import reactive
from textual.worker import Worker, WorkerState

from ... import presets
from ...defaults import app_threads
from ...engine.errors import WorkbenchError
from ...engine.models import LoadOptions
from ...engine.settings import SPECS, LiveSettings, Settings, change, default_drafter, validate
from .. import jobs
from ..dialogs import ExpertsScreen, ExportScreen
from ..keeper import Keeper, RunRecord
from ..keys import bindings
from ..messages import AgreementMeasured, BaselineMeasured, EngineLoaded, LoadFailed, RunEnded
from ..widgets.controls import ControlsPanel
from ..widgets.models import ModelsPanel
from ..widgets.stream import TokenStream
from .base import RunScreen

if TYPE_CHECKING:
    from ...engine.session import Engine, Session

SWITCH_INTERVAL = 0.0005  # seconds
BASELINE_TOKENS = 48  # plain decoding measured before the first run of a pair, for the speedup
LOOP_PAUSE = 3.0  # seconds the demo leaves a finished answer on screen before the next prompt runs


@dataclass(frozen=True)
class Opening:
    """What the screen does once it is shown: load a pair (or a preset), and maybe start a run."""

    target: str | None = None
    draft: str = ""
    preset: str | None = None
    autostart: bool = False
    loop: tuple[str, ...] = ()  # the demo: when a run ends by itself, the next of these prompts runs


class LiveScreen(RunScreen):
    BINDINGS = bindings()  # the actions' table (app/keys.py)

    running: reactive[bool] = reactive(False, init=False)  # a worker is generating or measuring
    # a pair is loading (not Textual's own `loading`, which would cover the whole screen with an indicator)
    loading_pair: reactive[bool] = reactive(False, init=False)

    def __init__(self, settings: Settings | None = None, *, prompt: str = "", n_predict: int = 256,
                 chat: bool = True, opening: Opening = Opening(), load_options: LoadOptions | None = None,
                 transcripts_dir: Path | None = None, record: str | None = None) -> None:
        super().__init__(LiveSettings(settings or Settings(drafter="lookup")), prompt, n_predict)
        self.chat = chat
        self.opening = opening
        self.load_options = load_options or LoadOptions(n_threads=app_threads())
        self.keeper = Keeper(self.notify, transcripts_dir, record)
        self.engine: Engine | None = None
        self.session: Session | None = None
        self.model_paths = ("", "")
        self.closing = False  # the app is quitting
        self.run_text = ""  # the run's prompt as sent (chat template applied)
        self.plain_output: tuple[str, list[int]] | None = None  # a greedy baseline's prompt and output
        self.measuring = False  # plain decoding is being measured
        self._loading = ("", "")  # the pair being loaded
        self._run_after_baseline: str | None = None  # the prompt of a run waiting for its baseline
        self._from_panel = False  # the pair loading was asked for in the Models tab

    def on_mount(self) -> None:
        super().on_mount()
        self._show_models()
        self.update_status()
        o = self.opening
        if o.preset:
            self.apply_preset(o.preset, autostart=o.autostart)
        elif o.target:
            self.load_models(o.target, o.draft, autostart=o.autostart)

    # --- reactive state -------------------------------------------------------------------------
    def watch_running(self, running: bool) -> None:
        self.view.running = running
        self.update_status()
        self.refresh_bindings()

    def watch_loading_pair(self, loading: bool) -> None:
        self.query_one("#facts").loading = loading
        self.view.stream.loading = loading  # where the eye is
        self.update_status()
        self.refresh_bindings()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """Keys that cannot act now show as disabled in the footer."""
        if action in ("run", "continue", "baseline") and (self.running or self.loading_pair):
            return None
        if action == "stop" and not self.running:
            return None
        return True

    def update_status(self) -> None:
        super().update_status()
        if self.opening.loop and self.is_mounted:  # the demo: the speedup in large digits
            stats, baseline = self.transcript.stats, self.plot_data.baseline
            self.view.show_speedup(stats.tokens_per_second / baseline if stats.n_emitted and baseline else None)

    def state(self) -> str:
        """What the app is doing, as the status line says it (the stream shows an indicator meanwhile)."""
        if self.loading_pair:
            target, draft = self._loading
            return f"loading {Path(target).name}" + (f" + {Path(draft).name}" if draft else "")
        if self.measuring:
            return "measuring-plain"
        return super().state()

    # --- settings ---------------------------------------------------------------------------------
    def apply_setting(self, name: str, value: Any) -> bool:
        """Validate one value and hand it to the engine; a refusal is one notification. True if applied."""
        try:
            if name == "n_predict":
                self.n_predict = validate(name, value, called=SPECS[name].label)
            else:
                for note in change(self.settings, name, value, self.engine.check if self.engine else None):
                    self.notify(note, timeout=3)
        except WorkbenchError as e:
            self.notify(str(e), severity="error", timeout=4)
            self.query_one(ControlsPanel).show(self.settings.snapshot(), self.n_predict, force=name)
            return False
        self.show_settings()
        self.update_status()
        return True

    @on(ControlsPanel.Apply)
    def _on_apply(self, message: ControlsPanel.Apply) -> None:
        if message.value == "":
            self.show_settings()  # an emptied field just goes back to the value in force
            return
        self.apply_setting(message.name, message.value)

    # --- models and presets -----------------------------------------------------------------------
    def load_models(self, target: str, draft: str = "", autostart: bool = False, cross_vocab: bool | None = None,
                    from_panel: bool = False) -> None:
        """Load a pair in the background; `cross_vocab` (None: as before) lets a draft of another vocabulary in;
        `from_panel`: the Models tab's Load (a draft model given there selects the draft drafter)."""
        self._from_panel = False
        if not target:
            self.notify("give a target model path (or 'embedded')", severity="error")
            return
        if self.running:
            self.notify("stop the run (F3) before loading models", severity="warning")
            return
        if self.loading_pair:
            self.notify("a pair is loading: wait for it", severity="warning")
            return
        self._loading = (target, draft)
        if cross_vocab is not None:
            self.load_options = replace(self.load_options, cross_vocab=cross_vocab)
        self.loading_pair = True
        self._from_panel = from_panel
        self.query_one(ModelsPanel).load(target, draft, self.load_options, autostart)

    @on(EngineLoaded)
    def _install_engine(self, message: EngineLoaded) -> None:
        self.loading_pair = False
        if self.closing:  # loaded after the user quit: nothing more to do with it
            message.engine.close()
            return
        old, self.engine = self.engine, message.engine
        self.session = None
        if old is not None:
            old.close()
        self.model_paths = (message.target, message.draft)
        self.plot_data.baseline, self.plain_output = None, None  # another pair: its plain rate is measured anew
        s = self.settings.snapshot()
        if self._from_panel and self.engine.draft is not None and s.drafter not in ("draft", "cascade") and \
                not (s.drafter == "chain" and "draft" in s.chain.split(",")):
            # a draft model given in the Models tab is there to draft with, as -md on the command line selects draft
            self.settings.update(drafter=default_drafter(True))
            self.notify("a draft model is loaded: the drafter is now draft", timeout=5)
        for note in self.engine.fit_settings(self.settings):
            self.notify(note, timeout=5)
        self._show_models()
        self.show_settings()
        self.update_status()
        for warning in self.engine.warnings:
            self.notify(warning, severity="warning", timeout=10)
        e = self.engine
        self.notify(f"loaded {e.target.info.name}" + (f" + draft {e.draft.info.name}" if e.draft else ""))
        if message.autostart:
            self.action_run()

    @on(LoadFailed)
    def _load_failed(self, message: LoadFailed) -> None:
        self.loading_pair = False
        self._show_models(problem=message.reason)
        self.notify_error(message.reason)

    def _show_models(self, problem: str = "") -> None:
        self.query_one(ModelsPanel).show_engine(self.engine, problem)
        self.query_one(ControlsPanel).show_experts(self.engine.target.info if self.engine else None)

    @on(ModelsPanel.Load)
    @on(ModelsPanel.ApplyPreset)
    def _on_models_panel(self, message: ModelsPanel.Load | ModelsPanel.ApplyPreset) -> None:
        if isinstance(message, ModelsPanel.Load):
            self.load_models(message.target, message.draft, cross_vocab=message.cross_vocab, from_panel=True)
        else:
            self.apply_preset(message.name)

    def apply_preset(self, name: str, autostart: bool = False) -> None:
        try:
            preset = presets.apply(name, self.settings, self.engine)
        except WorkbenchError as e:
            self.notify(str(e), severity="error")
            return
        self.show_settings()
        self.update_status()
        self.notify(f"preset {preset.name}: {preset.description}" if preset.description else f"preset {preset.name}")
        if preset.target:
            self.load_models(preset.target, preset.draft or "", autostart=autostart)
        elif autostart:
            self.action_run()

    @on(ModelsPanel.SavePreset)
    def _on_save_preset(self, message: ModelsPanel.SavePreset) -> None:
        try:
            path = presets.save(message.name, self.settings.snapshot(), self.model_paths[0] or None,
                                self.model_paths[1] or None)
        except (WorkbenchError, OSError) as e:
            self.notify(str(e), severity="error")
            return
        self.query_one(ModelsPanel).refresh_presets()
        self.notify(f"saved preset {message.name} to {path}")

    # --- runs ---------------------------------------------------------------------------------------
    def _can_start(self) -> bool:
        if self.engine is None:
            self.notify("load a model first (Models tab)", severity="warning")
            return False
        if self.running:
            self.notify("a run is going on: stop it first (F3)", severity="warning")
            return False
        return True

    def _prompt_for_run(self) -> str | None:
        """The prompt to run, or None (and a notification) when there is none or a run cannot start."""
        prompt = self.view.prompt.text
        if not prompt.strip():
            self.notify("write a prompt first", severity="warning")
            return None
        return prompt if self._can_start() else None

    def action_run(self) -> None:
        prompt = self._prompt_for_run()
        if prompt is None or self.engine is None:
            return
        if not self.plot_data.baseline:  # no speedup without a measured reference: measure it first, briefly
            self._measure_baseline(prompt, min(self.n_predict, BASELINE_TOKENS), then_run=True)
            return
        self._run(prompt)

    def _run(self, prompt: str, note: str = "") -> None:
        """Start a run; `note` opens its stream (the baseline just measured)."""
        assert self.engine is not None
        try:
            text = self.engine.target.chat_prompt(prompt) if self.chat else prompt
            self.session = self.engine.session(text, self.settings)
            self.run_text = text
        except WorkbenchError as e:
            self.notify(str(e), severity="error")
            return
        self.view.reset()
        if note:
            self.view.stream.add_marker(note)
        self.keeper.begin(RunRecord(self.transcript, prompt, self.settings.snapshot(), self.models,
                                    self.plot_data.baseline))
        self._start(self.n_predict)

    def action_continue(self) -> None:
        if self.session is None:
            self.action_run()
            return
        if self._can_start():
            self.query_one(TokenStream).add_marker("continue")
            self._start(self.n_predict)

    def action_stop(self) -> None:
        if self.session is not None and self.running:
            self.session.stop()

    def action_clear(self) -> None:
        self.action_stop()
        if not self.running:
            self.session = None
        self.keeper.begin(None)
        self.view.reset()
        self.update_status()

    def _start(self, n_predict: int) -> None:
        # The generation thread needs the GIL for a moment between llama.cpp calls; when the UI thread is
        # painting it would wait up to the default 5 ms switch interval each time. Hand it over sooner.
        sys.setswitchinterval(SWITCH_INTERVAL)
        self.running = True
        self.keeper.generating()
        self._job("generate", jobs.generate, self.session, n_predict, self.keeper, self.view)

    def _job(self, name: str, job: Callable[..., Message], *args: Any) -> None:
        """Run `job` in a thread worker of the engine group; post the message it returns to this screen."""
        self.run_worker(lambda: self.post_message(job(*args)), name=name, group="engine", thread=True,
                        exit_on_error=False)

    @on(RunEnded)
    def _run_ended(self) -> None:
        self.view.drain()
        self.running = False
        self._check_agreement()
        done = self.transcript.done
        if self.opening.loop and not self.closing and done is not None and done.reason in ("eos", "n_predict"):
            ended = self.transcript
            self.set_timer(LOOP_PAUSE, lambda: self._next_in_loop(ended))

    def _next_in_loop(self, ended: object) -> None:
        """The demo's next prompt, unless the screen moved on (a key, a clear) since the run `ended` ended."""
        if self.transcript is not ended or self.closing:
            return
        if self.running:  # the agreement with plain decoding is being measured: wait for it
            self.set_timer(0.5, lambda: self._next_in_loop(ended))
            return
        loop, current = self.opening.loop, self.view.prompt.text
        self.view.prompt.load_text(loop[(loop.index(current) + 1) % len(loop)] if current in loop else loop[0])
        self.action_run()

    def action_baseline(self) -> None:
        prompt = self._prompt_for_run()
        if prompt is not None:
            self._measure_baseline(prompt, min(self.n_predict, 128))

    def _measure_baseline(self, prompt: str, n_predict: int, then_run: bool = False) -> None:
        self.running = True
        self.measuring = True
        self._run_after_baseline = prompt if then_run else None
        text = self.engine.target.chat_prompt(prompt) if self.chat else prompt  # type: ignore[union-attr]
        view = None
        if then_run:  # the run replaces the screen next: meanwhile plain decoding shows its text as it goes
            view = self.view
            self.keeper.begin(None)
            view.reset()
            view.stream.add_marker(f"first plain decoding, {n_predict} tokens, measured for the speedup")
        self._job("baseline", jobs.baseline, self.engine, text, n_predict, self.settings.snapshot(), view)

    @on(BaselineMeasured)
    def _baseline_measured(self, message: BaselineMeasured) -> None:
        self.view.drain()  # plain decoding's own text, all of it, before the run replaces it
        self.measuring = False
        self.running = False
        self.plot_data.baseline = message.tokens_per_second
        self.plot_data.version += 1
        said = f"plain decoding measured: {message.tokens_per_second:.1f} tokens/s"
        if self._run_after_baseline is None:
            self.notify(said)
        self.update_status()
        self.plain_output = (message.prompt, message.ids) if message.ids is not None else None
        if self._run_after_baseline is not None:
            prompt, self._run_after_baseline = self._run_after_baseline, None
            self._run(prompt, said)  # said in the stream, where the eye is (a toast would cover the plots)
        else:
            self._check_agreement()

    def _check_agreement(self) -> None:
        """A greedy run and a greedy baseline on the same prompt: say whether their outputs agree (measured, as
        batched and one-token logits can round differently: engine/agreement.py)."""
        plain = jobs.comparable_plain_output(self.plain_output, self.run_text, self.run_settings, self.transcript)
        if plain is not None and self.engine is not None:
            self.running = True
            self._job("agreement", jobs.agreement, self.engine, self.run_text, plain, self.transcript.emitted_ids)

    @on(AgreementMeasured)
    def _agreement_measured(self, message: AgreementMeasured) -> None:
        self.running = False
        a = message.agreement
        # about the text on screen: said at its end (a toast would cover the plots as the run ends), and kept
        self.view.stream.add_marker(f"output {a.describe()} (F1)")
        if not a.identical:
            self.notify(f"output {a.describe()} (F1)", severity="warning", timeout=8)

    def action_measure_experts(self) -> None:
        """Perplexity, agreement and tokens/s for every expert count of the MoE target (a dialog measures)."""
        if self.engine is None or not self.engine.target.info.is_moe:
            self.notify("load a Mixture-of-Experts target first: the expert count does not apply", severity="warning")
            return
        if self._can_start():
            self.app.push_screen(ExpertsScreen(self.engine.target.info, self.engine.target.options))

    def export_text(self, tool: str = "llama-server") -> str | None:
        """The llama.cpp command for the pair loaded and the settings in force (workbench/export.py); None when
        no model is loaded."""
        from ...export import llama_command

        e, o = self.engine, self.load_options
        if e is None:
            return None
        return llama_command(
            self.settings.snapshot(), e.target.info.path, e.draft.info.path if e.draft else None, to=tool,
            # the app's own thread count leaves a core to the UI; llama.cpp's default suits a server better
            threads=None if o.n_threads == app_threads() else o.n_threads,
            ctx_size=e.target.n_ctx, batch_size=o.n_batch,
            flash_attn={True: "on", False: "off"}.get(o.flash_attn, "auto"),  # type: ignore[arg-type]
            arch=e.target.info.arch, draft_arch=e.draft.info.arch if e.draft else None,
            lookup_cache_static=o.lookup_cache_static, lookup_cache_dynamic=o.lookup_cache_dynamic,
            cross_vocab=e.cross_vocab is not None)

    def action_export(self) -> None:
        """Show the llama-server command for what is in force, to copy (c)."""
        text = self.export_text()
        if text is None:
            self.notify("load a model first: the command needs its path", severity="warning")
            return
        self.app.push_screen(ExportScreen(text))

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        """Only the unforeseen: a worker that raised instead of posting its message."""
        if event.state != WorkerState.ERROR:
            return
        error = event.worker.error
        message = str(error) if isinstance(error, WorkbenchError) else f"{type(error).__name__}: {error}"
        self.running = False
        self.notify_error(message)

    # --- chat template, recording, saving ----------------------------------------------------------------
    def action_toggle_chat(self) -> None:
        self.chat = not self.chat
        self.view.prompt.border_title = "prompt (F2 run)" if self.chat else "prompt, raw completion (F2 run)"
        self.notify("the chat template is applied" if self.chat else "raw completion: no chat template", timeout=2)

    @property
    def models(self) -> dict[str, str]:
        return {"target": self.model_paths[0], "draft": self.model_paths[1]}

    def action_record(self) -> None:
        """Start recording the following runs to a file in the user data dir, or stop recording."""
        if self.keeper.recorder is not None:
            self.keeper.stop_recording()
            self.notify("recording stopped")
        else:
            self.keeper.start_recording(RunRecord(self.transcript, self.prompt_text, self.settings.snapshot(), self.models,
                                                  self.plot_data.baseline))

    def action_save(self) -> None:
        if path := self.keeper.save():
            self.notify(f"transcript saved to {path}")

    @property
    def saved_path(self) -> Path | None:
        return self.keeper.saved_path

    @property
    def run_settings(self) -> Settings:
        """The settings the run on screen started with (those in force when none has run)."""
        return self.keeper.run.settings if self.keeper.run else self.settings.snapshot()

    @property
    def prompt_text(self) -> str:
        return self.keeper.run.prompt if self.keeper.run else ""

    def keep_work(self) -> None:
        if self.session is not None:
            self.session.stop()
        self.view.drain()
        self.keeper.close()

    async def shutdown(self) -> None:
        """Quitting: stop generating first, then keep what was made (transcript, recording), then free the models."""
        self.closing = True
        if self.session is not None:
            self.session.stop()
        # Generation ends at its next step; a model load (or an expert measurement) cannot be cut short
        # inside llama.cpp, so it is not waited for: the process leaves it behind (launch.run).
        workers = list(self.app.workers)
        await self.app.workers.wait_for_complete([w for w in workers if w.group == "engine"])
        self.abandoned_work = self.loading_pair or any(w.is_running for w in workers if w.group != "engine")
        await super().shutdown()
        self.keeper.close()
        if self.engine is not None:
            self.engine.close()
            self.engine = None
