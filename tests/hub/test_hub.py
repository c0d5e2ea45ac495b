"""A class's round trip on a real JupyterHub, as its people do it.

The instructor releases unit 01; student A, in a real browser, logs in, fetches it in the
Assignments tab, answers one part, runs its visible test, validates and submits; student
B submits the TensorFlow notebook from a terminal; the instructor grades with `course
grade --exchange` (sandboxed) and releases feedback; both students fetch it and see the
scores the grades CSV has; the instructor's formgrader shows them too. Around it: what a
student may not read, the data mirror from a student's kernel, a lesson's widget.
Screenshots land in build/test-artifacts/hub/."""
from __future__ import annotations

import csv
import json
import re
import shutil
import time
from pathlib import Path

from .conftest import ALICE, ARTIFACTS, BOB, INSTRUCTOR, PASSWORD, REPO, UNIT, course

SOFTMAX = """def softmax(z):
    shifted = z - z.max(dim=-1, keepdim=True).values
    e = torch.exp(shifted)
    return e / e.sum(dim=-1, keepdim=True)
"""
TIMINGS: dict = {}


PAGES: list = []   # open pages: a failing step leaves a screenshot of each


def step(name):
    """Record how long each step of the round trip takes (printed at the end); a step
    that fails leaves screenshots of the open pages in the artifacts."""
    class _Timer:
        def __enter__(self):
            self.t = time.monotonic()

        def __exit__(self, kind, *exc):
            TIMINGS[name] = round(time.monotonic() - self.t, 1)
            if kind is not None:
                for i, page in enumerate(PAGES):
                    try:
                        page.screenshot(path=str(ARTIFACTS / f"failed-{len(TIMINGS)}-{i}.png"))
                    except Exception:  # noqa: BLE001 - a closed page
                        pass
    return _Timer()


def login(browser, hub, user, password=PASSWORD):
    page = browser.new_page(viewport={"width": 1400, "height": 900})
    page.set_default_timeout(60_000)
    PAGES.append(page)
    page.goto(f"{hub.url}/hub/login")
    page.fill("#username_input", user)
    page.fill("#password_input", password)
    page.click("#login_submit")
    page.wait_for_url(re.compile(rf".*/user/{user}/lab.*"), timeout=120_000)
    page.wait_for_selector("#jp-main-dock-panel", timeout=120_000)
    return page


def open_assignments(page):
    page.locator("#jp-menu-panel .lm-MenuBar-itemLabel", has_text="Nbgrader").click()
    page.locator('#jp-mainmenu-nbgrader li[data-command="nbgrader:open-assignment-list"]').click()
    page.wait_for_selector("#released_assignments_list, #fetched_assignments_list")


def wait_idle(page):
    page.wait_for_selector("#jp-main-statusbar >> text=Idle", timeout=120_000)


def test_up_again_changes_nothing_and_down_can_be_previewed(hub, roster):
    again = course("hub", "up", str(roster), "--root", str(hub.root), "--units", UNIT,
                   "--port", str(hub.port))
    assert "nothing to do" in again.stdout
    preview = course("hub", "down", "--root", str(hub.root), "--dry-run")
    assert f"would remove user {ALICE}" in preview.stdout and hub.root.exists()


def test_the_instructor_releases_unit_01(hub):
    with step("instructor releases unit 01"):
        hub.as_user(INSTRUCTOR, "nbgrader", "release_assignment", UNIT, cwd=hub.root / "course")
    listed = hub.as_user(ALICE, "nbgrader", "list").stdout + hub.as_user(ALICE, "nbgrader", "list").stderr
    assert UNIT in listed


def test_student_a_works_in_the_browser(hub, browser):
    with step("student A logs in (server spawned)"):
        page = login(browser, hub, ALICE)
    with step("student A fetches unit 01 in the Assignments tab"):
        open_assignments(page)
        row = page.locator("#released_assignments_list .list_item", has_text=UNIT)
        row.locator("button", has_text="Fetch").click()
        page.locator("#fetched_assignments_list .list_item", has_text=UNIT).wait_for()
        page.screenshot(path=str(ARTIFACTS / "assignments-tab.png"))
    with step("student A answers softmax and runs its visible test"):
        page.goto(f"{hub.url}/user/{ALICE}/lab/tree/{UNIT}/pytorch.ipynb")
        page.wait_for_selector(".jp-NotebookPanel .jp-Cell")
        wait_idle(page)
        cells = page.locator(".jp-NotebookPanel:visible .jp-Notebook .jp-Cell")
        sources = [cells.nth(i).inner_text() for i in range(cells.count())]
        answer = next(i for i, s in enumerate(sources) if "def softmax" in s and "YOUR CODE HERE" in s)
        test = next(i for i, s in enumerate(sources[answer:]) if "check.assert_close(p," in s) + answer
        editor = cells.nth(answer).locator(".cm-content")
        editor.click()
        page.keyboard.press("Control+a")
        page.keyboard.press("Delete")
        page.keyboard.insert_text(SOFTMAX)
        page.keyboard.press("Escape")
        first = next(i for i, s in enumerate(sources) if "course.setup(" in s)
        for i in range(first, test + 1):       # from the setup cell to the visible test
            cell = cells.nth(i)
            if "jp-CodeCell" not in (cell.get_attribute("class") or ""):
                continue
            cell.locator(".jp-InputPrompt").click()
            page.keyboard.press("Shift+Enter")
            cell.locator(".jp-InputPrompt", has_text=re.compile(r"\[\d+\]")).wait_for(timeout=120_000)
        cells.nth(test).locator(".jp-OutputArea-output", has_text="All visible tests passed").wait_for(
            timeout=120_000)
        page.keyboard.press("Control+s")
        page.screenshot(path=str(ARTIFACTS / "student-notebook.png"), full_page=False)
    with step("student A validates"):
        page.locator("jp-button.validate-button, .validate-button").first.click()
        dialog = page.locator(".nbgrader-ErrorDialog, .nbgrader-SuccessDialog").first
        dialog.wait_for(timeout=180_000)
        page.screenshot(path=str(ARTIFACTS / "validate-dialog.png"))
        page.keyboard.press("Escape")
    with step("student A submits"):
        page.goto(f"{hub.url}/user/{ALICE}/lab")
        page.wait_for_selector("#jp-main-dock-panel")
        open_assignments(page)
        fetched = page.locator("#fetched_assignments_list .list_item", has_text=UNIT).first
        fetched.locator("button", has_text="Submit").click()
        page.locator("#submitted_assignments_list .list_item", has_text=UNIT).first.wait_for(
            timeout=120_000)
    page.close()


def test_student_b_submits_from_a_terminal(hub):
    with step("student B fetches and submits from a terminal"):
        hub.as_user(BOB, "nbgrader", "fetch_assignment", UNIT)
        home = Path(f"~{BOB}").expanduser()
        answer = REPO / "autograder" / "demo" / "submitted" / "reference-tensorflow" / UNIT / "tensorflow.ipynb"
        target = home / UNIT / "tensorflow.ipynb"
        shutil.copyfile(answer, target)
        shutil.chown(target, BOB, BOB)
        hub.as_user(BOB, "nbgrader", "submit", UNIT)


def test_a_student_reads_nothing_of_others_or_the_instructor(hub):
    """Checked with the real permissions, as the student."""
    bob_home = Path(f"~{BOB}").expanduser()
    probes = {
        "another student's work": bob_home / UNIT / "tensorflow.ipynb",
        "the exchange's submissions": hub.root / "exchange" / "open-dl-course" / "inbound",
        "the instructor's workspace": hub.root / "course" / "source" / UNIT / "pytorch.ipynb",
        "the gradebook": hub.root / "course" / "gradebook.db",
        "the solutions": REPO / "solutions" / UNIT / "pytorch.ipynb",
        "the hidden tests' source": REPO / "units" / UNIT / "assignment.md",
        "the hub's secrets": hub.root / "hub" / "hub.json",
    }
    code = ("import json, os, sys\n"
            "out = {}\n"
            "for what, path in json.loads(sys.argv[1]).items():\n"
            "    try:\n"
            "        os.listdir(path) if os.path.isdir(path) else open(path, 'rb').read(1)\n"
            "        out[what] = 'READ'\n"
            "    except PermissionError:\n"
            "        out[what] = 'denied'\n"
            "print(json.dumps(out))\n")
    for path in probes.values():
        assert path.exists(), path     # the probe is real: the thing is there
    out = hub.as_user(ALICE, "python", "-c", code, json.dumps({k: str(v) for k, v in probes.items()}))
    assert json.loads(out.stdout) == {k: "denied" for k in probes}
    mine = hub.as_user(ALICE, "python", "-c", "print(open('01-activations/pytorch.ipynb').read(20))")
    assert mine.stdout.strip()          # ... while her own work she can read


def test_the_instructor_grades_and_releases_feedback(hub):
    with step("instructor grades (sandboxed) with course grade --exchange"):
        graded = hub.as_user(INSTRUCTOR, "python", "-m", "course", "grade", UNIT,
                             "--exchange", str(hub.root / "exchange"),
                             "--workspace", str(hub.root / "course"), "--workers", "1",
                             extra={"PYTHONPATH": str(REPO)}, cwd=hub.root / "course", timeout=900)
    assert "2 graded now" in graded.stdout, graded.stdout + graded.stderr
    with step("instructor releases feedback"):
        hub.as_user(INSTRUCTOR, "nbgrader", "release_feedback", UNIT, cwd=hub.root / "course")


def _csv_scores(hub) -> dict:
    with (hub.root / "course" / f"grades-{UNIT}.csv").open() as fh:
        return {r["student"]: float(r["score"]) for r in csv.DictReader(fh)}


def test_students_see_the_scores_of_the_grades_csv(hub):
    scores = _csv_scores(hub)
    assert scores == {ALICE: 4.0, BOB: 20.0}      # softmax alone (1 + 3); everything right
    with step("students fetch their feedback"):
        for user, nb in ((ALICE, "pytorch"), (BOB, "tensorflow")):
            hub.as_user(user, "nbgrader", "fetch_feedback", UNIT)
            pages = sorted(Path(f"~{user}").expanduser().glob(f"{UNIT}/feedback/*/{nb}.html"))
            assert pages, user
            text = pages[-1].read_text()
            got = float(re.search(rf"{nb} \(Score: ([\d.]+) / ", text).group(1))
            assert got == scores[user], (user, got)


def test_the_formgrader_shows_the_same_scores(hub, browser):
    with step("instructor opens the formgrader"):
        page = login(browser, hub, INSTRUCTOR)
        page.goto(f"{hub.url}/user/{INSTRUCTOR}/formgrader/manage_students")
        page.wait_for_selector("table")
        page.wait_for_function("document.body.innerText.includes('%s')" % ALICE)
        text = page.inner_text("body")
        page.screenshot(path=str(ARTIFACTS / "formgrader.png"), full_page=True)
    page.close()
    names = {ALICE: "Student, Alice", BOB: "Student, Bob"}     # the roster's, via `hub up`
    for user, score in _csv_scores(hub).items():
        row = next(line for line in text.splitlines() if user in line)
        assert f"{score:g}" in row.replace(".0", ""), row
        assert names[user] in row, row


def test_a_students_kernel_loads_data_from_the_shared_mirror(hub):
    from .kernels import run_code
    out = run_code(hub, ALICE, "import course.data as cd\n"
                   "ds = cd.load_digits()\n"
                   "print('shape', ds.train.x.shape, 'offline', __import__('os').environ['COURSE_DATA_OFFLINE'])")
    assert "offline 1" in out and "shape (" in out, out


def test_a_lesson_opens_with_its_plots_and_its_widget_responds(hub, browser):
    page = login(browser, hub, ALICE)
    with step("a lesson opens with its stored plots"):
        page.goto(f"{hub.url}/user/{ALICE}/lab/tree/lessons/{UNIT}/pytorch.ipynb")
        page.wait_for_selector(".jp-NotebookPanel .jp-OutputArea-output img")
        stored = page.locator(".jp-NotebookPanel .jp-OutputArea-output img").count()
        assert stored >= 3
        page.screenshot(path=str(ARTIFACTS / "lesson.png"))
    with step("its widget: run the lesson, move a slider, the figure changes"):
        wait_idle(page)
        page.locator("#jp-menu-panel .lm-MenuBar-itemLabel", has_text="Run").click()
        page.locator(".lm-Menu-item", has_text=re.compile(r"^Run All Cells")).first.click()
        slider = page.locator(".widget-slider", has_text="depth").first
        slider.wait_for(timeout=180_000)
        figure = slider.locator("xpath=ancestor::div[contains(@class,'widget-interact')]")\
            .locator(".jp-OutputArea-output img, .widget-output img").first
        figure.wait_for(timeout=120_000)
        before = figure.get_attribute("src")
        readout = slider.locator(".widget-readout")
        readout.click()
        page.keyboard.press("Control+a")
        page.keyboard.type("5")
        page.keyboard.press("Enter")
        deadline = time.monotonic() + 120     # the output is redrawn: a new image element
        while figure.get_attribute("src") == before:
            assert time.monotonic() < deadline, "moving the slider did not redraw the figure"
            time.sleep(0.5)
        page.screenshot(path=str(ARTIFACTS / "lesson-widget.png"))
    page.close()


def test_round_trip_timings_are_reported(hub):
    (ARTIFACTS / "timings.json").write_text(json.dumps(TIMINGS, indent=1))
    print("\nround trip on the hub (seconds):")
    for name, seconds in TIMINGS.items():
        print(f"  {seconds:6.1f}  {name}")
    assert {"instructor releases unit 01", "student A submits",
            "instructor grades (sandboxed) with course grade --exchange"} <= set(TIMINGS)


