#include <Poco/Base64Encoder.h>
#include <Poco/SHA2Engine.h>

#include <sstream>

#include "reports/html_internal.h"

namespace gameday::html {

const char kStyle[] = R"css(
:root{--pass:#1e8e3e;--fail:#d93025;--unk:#9aa0a6;--warn:#e37400;--fault:#f9ab00;--lat:#1a73e8;
--ink:#202124;--muted:#5f6368;--line:#dadce0;--bg:#fff;--panel:#f8f9fa}
*{box-sizing:border-box}
body{margin:0;font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,Helvetica,Arial,sans-serif;
color:var(--ink);background:var(--bg)}
header.run,main,footer{max-width:1200px;margin:0 auto;padding:16px 24px}
header.run{border-bottom:1px solid var(--line)}
h1{font-size:20px;margin:0 0 8px}h2{font-size:18px;margin:0}h3{font-size:15px;margin:20px 0 6px}
.verdict{display:inline-block;font-weight:700;letter-spacing:.04em;border-radius:6px;color:#fff;
padding:2px 10px}
#run-verdict{font-size:40px;padding:4px 20px;margin:4px 0 12px}
.passed{background:var(--pass)}.failed{background:var(--fail)}
.aborted{background:var(--warn)}.error{background:#7b1fa2}
.xfail{background:#00796b}.xpass{background:var(--fail)}
.expected-failure{border-left:4px solid #00796b;background:var(--panel);padding:6px 12px;
margin:8px 0}.expected-failure p{margin:2px 0}.expected-failure ul{margin:4px 0;padding-left:20px}
.rounds{margin:4px 0;padding-left:20px;font-size:13px}
.dry{display:inline-block;margin-left:12px;padding:2px 8px;border:2px dashed var(--warn);
color:var(--warn);font-weight:700}
dl.facts{display:grid;grid-template-columns:max-content 1fr;gap:2px 16px;margin:0}
dl.facts dt{color:var(--muted)}dl.facts dd{margin:0;overflow-wrap:anywhere}
table{border-collapse:collapse;width:100%;margin:4px 0 8px;font-size:13px}
th,td{border-bottom:1px solid var(--line);padding:4px 8px;text-align:left;vertical-align:top}
th{background:var(--panel);font-weight:600}
td.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
tr.sub td:first-child{padding-left:24px;color:var(--muted)}
.ok{color:var(--pass);font-weight:600}.bad{color:var(--fail);font-weight:600}
.neutral{color:var(--muted)}
.revert-note{color:var(--warn);font-weight:600}.observed{font-size:.92em;font-weight:400;color:var(--ink)}
section.experiment{border:1px solid var(--line);border-radius:8px;padding:12px 16px;margin:16px 0}
.experiment-head{display:flex;align-items:center;gap:12px;flex-wrap:wrap}
.desc{color:var(--muted);margin:4px 0}
.label{display:inline-block;background:var(--panel);border:1px solid var(--line);
border-radius:10px;padding:0 8px;margin:2px 4px 2px 0;font-size:12px}
ul.reasons{margin:6px 0;padding-left:20px}li.failure-reason{color:var(--fail)}
.all-good{color:var(--pass)}
svg.timeline{width:100%;height:auto;display:block;border:1px solid var(--line);border-radius:4px}
svg text{font:11px system-ui,sans-serif;fill:var(--ink)}
svg .axis{stroke:var(--muted);stroke-width:1}
svg .grid{stroke:var(--line);stroke-width:1}
svg .pass{fill:var(--pass)}svg .fail{fill:var(--fail)}svg .unk{fill:var(--unk)}
svg .window{fill:var(--fault);fill-opacity:.16}
svg .fbar{fill:var(--fault)}svg .fbar.bad{fill:var(--fail)}
svg .inject{stroke:var(--warn);stroke-width:1.2;stroke-dasharray:4 3}
svg .lat{fill:none;stroke:var(--lat);stroke-width:1.2}
svg .latbg{fill:var(--panel);fill-opacity:.55}
svg .detect{fill:var(--fail)}svg .recover{fill:#fff;stroke:var(--pass);stroke-width:2}
svg .ebar{stroke:var(--ink);stroke-width:1.5}
svg .event{stroke:var(--muted);stroke-width:1.5}
.legend{font-size:12px;color:var(--muted);margin:4px 0}
.legend span{display:inline-block;margin-right:14px}
.legend i{display:inline-block;width:10px;height:10px;margin-right:4px;vertical-align:-1px}
details{margin:6px 0}summary{cursor:pointer;color:var(--muted)}
footer{color:var(--muted);font-size:12px}
svg .hit{fill:transparent}svg g.band{cursor:crosshair}
svg .event.k8s{stroke:#326ce5;stroke-width:2}
svg .budget{stroke:var(--fail);stroke-width:1.2;stroke-dasharray:5 3}
svg .bar{fill:var(--pass)}svg .bar.over{fill:var(--fail)}svg .bar.none{fill:var(--unk)}
svg .tline{fill:none;stroke-width:1.5}svg .tpt{stroke:#fff;stroke-width:1}
svg .tcur{fill:none;stroke:var(--ink);stroke-width:2}svg .tmiss{stroke:var(--fail);stroke-width:2}
svg.trend,svg.suite{width:100%;height:auto;display:block;border:1px solid var(--line);
border-radius:4px}
#tip{position:fixed;display:none;pointer-events:none;z-index:10;max-width:460px;
background:#202124;color:#fff;padding:5px 9px;border-radius:4px;font-size:12px;
white-space:pre-line;box-shadow:0 2px 6px rgba(0,0,0,.3)}
.summary-reasons{margin:0;padding-left:18px}.summary-reasons li{color:var(--fail)}
.budgets{margin:0;padding:0;list-style:none;white-space:nowrap}
p.cleanup{margin:4px 0}
.sample-commands p{margin:4px 0;font-size:12px;color:var(--muted)}
.sample-commands ul{margin:4px 0;padding-left:20px;font-size:12px}
.sample-commands code{overflow-wrap:anywhere}
.wide{overflow-x:auto}
table.verifiers td:first-child{min-width:220px;max-width:320px;overflow-wrap:anywhere}
@media print{
#tip{display:none!important}.wide{overflow:visible}
body{font-size:10pt}header.run,main,footer{max-width:none;padding:0}
section.experiment{break-inside:auto;border:none;padding:0}
section.experiment+section.experiment{break-before:page}
table,svg.timeline,svg.trend,svg.suite,tr{break-inside:avoid}
.verdict,svg,.label,th{-webkit-print-color-adjust:exact;print-color-adjust:exact}
@page{margin:12mm}}
)css";

// The page's only script: the hover read-out of the timeline bands (see BandAttributes). It
// replaces the bands' SVG <title>s, which say the same per run of buckets when scripts are off.
const char kScript[] = R"js((function(){
var tip=document.getElementById('tip');if(!tip)return;
var H=['passing','FAILING','unknown'];
function s3(t){return t.toFixed(3)+' s';}
function show(ev,text){tip.textContent=text;tip.style.display='block';
var x=ev.clientX+14,y=ev.clientY+14,w=tip.offsetWidth,h=tip.offsetHeight;
if(x+w>innerWidth-4)x=ev.clientX-w-14;if(y+h>innerHeight-4)y=ev.clientY-h-14;
tip.style.left=Math.max(4,x)+'px';tip.style.top=Math.max(4,y)+'px';}
function hide(){tip.style.display='none';}
var bands=document.querySelectorAll('g.band');
for(var i=0;i<bands.length;i++)(function(g){
var ts=g.querySelectorAll('title');for(var k=0;k<ts.length;k++)ts[k].parentNode.removeChild(ts[k]);
var d=null,det=null,svg=g.ownerSVGElement,name=g.getAttribute('data-name');
var x0=+g.getAttribute('data-x0'),n=+g.getAttribute('data-n');
var t0=+g.getAttribute('data-t0'),t1=+g.getAttribute('data-t1');
g.addEventListener('mousemove',function(ev){
if(!d){d=JSON.parse(g.getAttribute('data-b'));det=JSON.parse(g.getAttribute('data-d'));}
var p=svg.createSVGPoint();p.x=ev.clientX;p.y=ev.clientY;
var b=Math.floor(p.matrixTransform(svg.getScreenCTM().inverse()).x-x0);
var lo=0,hi=d.length-1,r=null;
while(lo<=hi){var m=(lo+hi)>>1;if(d[m][0]<b)lo=m+1;else if(d[m][0]>b)hi=m-1;else{r=d[m];break;}}
var a=t0+(t1-t0)*b/n,z=t0+(t1-t0)*(b+1)/n;
if(!r){show(ev,name+'\nno sample covers '+s3(a)+' \u2013 '+s3(z));return;}
var txt=name+'\n'+s3(r[1])+' \u00b7 '+H[r[2]]+' \u00b7 '+r[3].toFixed(1)+' ms';
if(r[7]>=0)txt+='\n'+det[r[7]];
var c=r[4]+r[5]+r[6];
if(c>1)txt+='\n'+c+' samples in '+s3(a)+' \u2013 '+s3(z)+': '+r[4]+' passing, '+r[5]+
' failing, '+r[6]+' unknown';
show(ev,txt);});
g.addEventListener('mouseleave',hide);})(bands[i]);
})();)js";

// 'sha256-<base64>' of the script, for the Content-Security-Policy.
const std::string& ScriptHash() {
  static const std::string hash = [] {
    Poco::SHA2Engine sha(Poco::SHA2Engine::SHA_256);
    sha.update(kScript, sizeof(kScript) - 1);
    const Poco::DigestEngine::Digest& digest = sha.digest();
    std::ostringstream b64;
    Poco::Base64Encoder enc(b64);
    enc.rdbuf()->setLineLength(0);
    enc.write(reinterpret_cast<const char*>(digest.data()),
              static_cast<std::streamsize>(digest.size()));
    enc.close();
    return "'sha256-" + b64.str() + "'";
  }();
  return hash;
}

}  // namespace gameday::html
