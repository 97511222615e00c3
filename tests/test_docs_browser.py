"""The built docs in headless Chromium: every page loads without console errors, doc entries and plots render,
search finds a known word. Needs Debian's chromium + chromium-driver (`bash tools/install_browser.sh`).
A screenshot goes to $FASTCB_SCREENSHOT if set, else to pytest's temp dir."""
import functools, http.server, os, subprocess, threading
from pathlib import Path
import pytest

CHROMIUM, DRIVER = Path('/usr/bin/chromium'), Path('/usr/bin/chromedriver')
webdriver = pytest.importorskip('selenium.webdriver', reason='selenium is not installed (pip install -e ".[dev]")')
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait
from test_docs import ROOT, bd, make_sample

FLAGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
         '--disable-component-update', '--disable-sync', '--disable-dev-shm-usage', '--window-size=1280,1600']

class Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args): pass

@pytest.fixture(scope='module')
def base(tmp_path_factory):
    "Build the fastcb site and a sample site with a plot into a temp dir; serve it on 127.0.0.1 (mkdocs search needs http)."
    tmp = tmp_path_factory.mktemp('sites')
    bd.build(ROOT, tmp/'fastcb', tmp/'fastcb.README.md')   # coverage problems are test_docs.py's business
    sample = make_sample(tmp_path_factory.mktemp('sample'))
    assert bd.build(sample, tmp/'sample', tmp/'sample.README.md') == []
    srv = http.server.ThreadingHTTPServer(('127.0.0.1', 0), functools.partial(Quiet, directory=str(tmp)))
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    yield tmp, f'http://127.0.0.1:{srv.server_port}'
    srv.shutdown(); srv.server_close()

def have_chromium() -> bool:
    "Is Chromium there? If not, install it (Debian packages), as on a fresh CI machine, when that needs no password: as root."
    if not (CHROMIUM.exists() and DRIVER.exists()) and os.geteuid() == 0:   # never a sudo prompt, never while collecting
        subprocess.run(['bash', str(Path(__file__).resolve().parent.parent/'tools'/'install_browser.sh')], capture_output=True)
    return CHROMIUM.exists() and DRIVER.exists()

@pytest.fixture(scope='module')
def browser(tmp_path_factory):
    if not have_chromium(): pytest.skip('Chromium is not installed (/usr/bin/chromium, /usr/bin/chromedriver): run tools/install_browser.sh')
    opts = webdriver.ChromeOptions()
    opts.binary_location = str(CHROMIUM)
    for f in FLAGS + [f'--user-data-dir={tmp_path_factory.mktemp("chromium")}']: opts.add_argument(f)
    opts.set_capability('goog:loggingPrefs', {'browser': 'ALL'})
    drv = webdriver.Chrome(service=webdriver.ChromeService(str(DRIVER)), options=opts)
    yield drv
    drv.quit()

def load(browser, url) -> list:
    "Open `url`, wait until loaded, return its console errors."
    browser.get_log('browser')  # drop earlier pages' messages
    browser.get(url)
    WebDriverWait(browser, 10).until(lambda d: d.execute_script('return document.readyState') == 'complete')
    browser.execute_script('return new Promise(r => setTimeout(r, 300))')  # let late scripts (search worker) report
    return [e['message'] for e in browser.get_log('browser') if e['level'] == 'SEVERE']

def pages(site:Path) -> list:
    "Pages to open; 404.html links absolutely (it is served for any missing path), so it only works when deployed."
    return sorted(f.name for f in site.glob('*.html') if f.name != '404.html')

@pytest.mark.parametrize('site', ['fastcb', 'sample'])
def test_pages_load_without_console_errors(browser, base, site):
    tmp, url = base
    assert {'index.html', 'search.html'} <= set(pages(tmp/site))
    errors = {p: e for p in pages(tmp/site) if (e := load(browser, f'{url}/{site}/{p}'))}
    assert errors == {}
    nav = browser.find_elements(By.CSS_SELECTOR, '.wy-menu-vertical a')
    assert len(nav) >= 2, 'no navigation between pages'

@pytest.mark.parametrize('site', ['fastcb', 'sample'])
def test_doc_entries_and_images_render(browser, base, site):
    tmp, url = base
    n_sigs = n_imgs = 0
    for p in pages(tmp/site):
        assert load(browser, f'{url}/{site}/{p}') == []
        for e in browser.find_elements(By.CSS_SELECTOR, '.doc-entry'):
            code = e.find_element(By.CSS_SELECTOR, 'pre')            # a signature, or `Name = ...` for an assignment
            assert code.is_displayed() and code.text and e.find_element(By.CSS_SELECTOR, '.doc-links a').get_attribute('href')
            n_sigs += code.text.startswith(('def ', 'class '))
        imgs = browser.find_elements(By.CSS_SELECTOR, '.rst-content img')
        broken = [i.get_attribute('src') for i in imgs if not browser.execute_script('return arguments[0].complete && arguments[0].naturalWidth > 0', i)]
        assert broken == []
        n_imgs += len(imgs)
    assert n_sigs > 0, 'no show_doc signature rendered'
    if site == 'sample': assert n_imgs >= 1, 'the sample plot is missing'

@pytest.mark.parametrize('site,word', [('fastcb', None), ('sample', 'double')])
def test_search_finds_known_word(browser, base, site, word):
    tmp, url = base
    word = word or next(iter(bd.public_names(bd.Project(ROOT))))
    assert load(browser, f'{url}/{site}/search.html?q={word}') == []
    WebDriverWait(browser, 15).until(lambda d: d.find_elements(By.CSS_SELECTOR, '#mkdocs-search-results article'))
    hits = [a.get_attribute('href') for a in browser.find_elements(By.CSS_SELECTOR, '#mkdocs-search-results article a')]
    assert any('.html' in h for h in hits), hits

def test_screenshot(browser, base, tmp_path):
    "Screenshot the page a newcomer starts from (the tutorial: prose, code, a results table, plots), for a person to look at."
    tmp, url = base
    page = 'tutorial.html'
    assert page in pages(tmp/'fastcb')
    assert load(browser, f'{url}/fastcb/{page}') == []
    out = Path(os.environ.get('FASTCB_SCREENSHOT') or tmp_path/'docs_screenshot.png')
    out.parent.mkdir(parents=True, exist_ok=True)
    assert browser.save_screenshot(str(out)) and out.stat().st_size > 10_000
    print(f'screenshot: {out}')
