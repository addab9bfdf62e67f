import type { Lang, Localized, RemarkKind } from './model.ts';

/**
 * What each remark says and what to do about it, in the languages of the people who read them
 * (site managers and payroll staff: French or Dutch; English for everyone else). The advice follows the
 * ONSS FAQ: nothing can be cancelled (34), only a wrong company or declaration number can be corrected,
 * within 30 days (35, 36), a forgotten OUT is never added afterwards (37).
 */

type Details = Record<string, unknown>;
type Text = (d: Details) => string;

interface RemarkTexts {
  message: Record<Lang, Text>;
  advice: Record<Lang, Text>;
}

const s = (v: unknown) => (v === undefined || v === null ? '' : String(v));

/** Why a secure badge's tap looks like a copy, in each language (the badge check's `check`). */
const COPY_CAUSE: Record<Lang, (d: Details) => string> = {
  fr: (d) => {
    const other = s(d.otherTime);
    switch (d.check) {
      case 'uid-only-read': return 'le badge a répondu sans son message sécurisé, comme le fait une copie qui ne reproduit que le numéro du badge (UID)';
      case 'replayed': return `son message sécurisé avait déjà servi à ${other} : un message rejoué`;
      case 'lower-counter': return `son compteur de lecture (${s(d.counter)}) est plus bas que celui du passage de ${other} (${s(d.laterCounter)}), fait avant lui : un message lu sur le badge à l'avance`;
      case 'counter-too-old': return `son compteur de lecture (${s(d.counter)}) est plus ancien que les dernières lectures du badge que la passerelle garde (depuis ${s(d.oldestCounter)}) : un passage tardif ne se distingue plus d'un message lu à l'avance`;
      case 'uid-mismatch': return `son message sécurisé appartient au badge ${s(d.messageUid)}, pas au badge lu`;
      case 'bad-mac': return 'son message sécurisé porte une signature fausse : un message falsifié ou modifié';
      default: return "son message sécurisé ne se déchiffre pas avec les clés de ce site : une carte personnalisée avec d'autres clés";
    }
  },
  nl: (d) => {
    const other = s(d.otherTime);
    switch (d.check) {
      case 'uid-only-read': return 'de badge antwoordde zonder zijn beveiligd bericht, zoals een kopie die alleen het badgenummer (UID) nabootst';
      case 'replayed': return `zijn beveiligd bericht was al gebruikt om ${other}: een opnieuw afgespeeld bericht`;
      case 'lower-counter': return `zijn leesteller (${s(d.counter)}) is lager dan die van de tik van ${other} (${s(d.laterCounter)}), die ervoor gebeurde: een bericht dat vooraf van de badge gelezen werd`;
      case 'counter-too-old': return `zijn leesteller (${s(d.counter)}) is ouder dan de laatste lezingen van de badge die de gateway bijhoudt (vanaf ${s(d.oldestCounter)}): een laattijdige tik is niet meer te onderscheiden van een vooraf gelezen bericht`;
      case 'uid-mismatch': return `zijn beveiligd bericht hoort bij badge ${s(d.messageUid)}, niet bij de gelezen badge`;
      case 'bad-mac': return 'zijn beveiligd bericht draagt een foute handtekening: een vervalst of gewijzigd bericht';
      default: return 'zijn beveiligd bericht laat zich niet ontcijferen met de sleutels van deze site: een kaart gepersonaliseerd met andere sleutels';
    }
  },
  en: (d) => {
    const other = s(d.otherTime);
    switch (d.check) {
      case 'uid-only-read': return 'the badge answered without its secure message, as a copy that only reproduces the badge number (UID) does';
      case 'replayed': return `its secure message had already been used at ${other}: a replayed message`;
      case 'lower-counter': return `its read counter (${s(d.counter)}) is lower than that of the tap at ${other} (${s(d.laterCounter)}), made before it: a message read from the badge beforehand`;
      case 'counter-too-old': return `its read counter (${s(d.counter)}) is older than the last reads of the badge the gateway keeps (from ${s(d.oldestCounter)} on): a late tap can no longer be told from a message read beforehand`;
      case 'uid-mismatch': return `its secure message belongs to badge ${s(d.messageUid)}, not to the badge read`;
      case 'bad-mac': return 'its secure message carries a wrong signature: a forged or altered message';
      default: return "its secure message does not decrypt with this site's keys: a card personalised with other keys";
    }
  },
};

/** The remarks of secure badges (ingest's badge check). */
const BADGE_REMARK_TEXTS: Record<'possible-badge-copy' | 'badge-key-missing' | 'uid-only-badge', RemarkTexts> = {
  'possible-badge-copy': {
  message: {
    fr: (d) => `Copie possible du badge ${s(d.badge)} au terminal ${s(d.terminalId)} à ${s(d.time)} : ${COPY_CAUSE.fr(d)}. Aucun enregistrement n'a été fait.`,
    nl: (d) => `Mogelijke kopie van badge ${s(d.badge)} aan terminal ${s(d.terminalId)} om ${s(d.time)}: ${COPY_CAUSE.nl(d)}. Er werd niets geregistreerd.`,
    en: (d) => `Possible copy of badge ${s(d.badge)} at terminal ${s(d.terminalId)} at ${s(d.time)}: ${COPY_CAUSE.en(d)}. Nothing was registered.`,
  },
  advice: {
    fr: () => "Rien n'a été transmis à l'ONSS pour ce passage, et il ne le sera pas. Cherchez qui a présenté le badge à ce moment (chef d'équipe, contrôle d'accès du site) et si son travailleur était vraiment là. Le vrai badge continue de fonctionner : la copie d'un badge sécurisé est détectée, pas acceptée. Si le travailleur était là avec son propre badge, vérifiez que le terminal lit les badges sécurisés (pcsc.sun.enabled) et faites repersonnaliser (ciao admin badge provision) ou remplacer le badge.",
    nl: () => 'Voor deze tik werd niets aan de RSZ bezorgd, en dat gebeurt ook later niet. Zoek uit wie de badge op dat moment aanbood (ploegleider, toegangscontrole van de site) en of de werknemer er echt was. De echte badge blijft werken: een kopie van een beveiligde badge wordt herkend, niet aanvaard. Was de werknemer er met zijn eigen badge, controleer dan of de terminal beveiligde badges leest (pcsc.sun.enabled) en laat de badge opnieuw personaliseren (ciao admin badge provision) of vervangen.',
    en: () => 'Nothing was sent to ONSS for this tap, and it never will be. Find out who presented the badge then (team leader, site access records) and whether its worker was really there. The genuine badge keeps working: a copy of a secure badge is detected, not accepted. If the worker was there with their own badge, check that the terminal reads secure badges (pcsc.sun.enabled) and have the badge re-personalised (ciao admin badge provision) or replaced.',
  },
},
  'badge-key-missing': {
  message: {
    fr: (d) => `Le badge ${s(d.badge)} (sécurisé, version de clés ${s(d.keyVersion)}) a été présenté au terminal ${s(d.terminalId)} à ${s(d.time)}, mais la passerelle n'a pas cette version de clés : le passage est conservé et rien n'a été enregistré.`,
    nl: (d) => `Badge ${s(d.badge)} (beveiligd, sleutelversie ${s(d.keyVersion)}) werd aangeboden aan terminal ${s(d.terminalId)} om ${s(d.time)}, maar de gateway heeft die sleutelversie niet: de tik werd bewaard en er werd niets geregistreerd.`,
    en: (d) => `Badge ${s(d.badge)} (secure, key version ${s(d.keyVersion)}) was presented at terminal ${s(d.terminalId)} at ${s(d.time)}, but the gateway does not hold that key version: the tap was kept and nothing was registered.`,
  },
  advice: {
    fr: () => "Remettez cette version dans le fichier de clés des badges (badgeSecurity.keyFile) et redémarrez la passerelle, ou repersonnalisez le badge avec la version actuelle (ciao admin badge provision). D'ici là, chaque passage de ce badge est retenu ; celui-ci n'est pas transmis après coup.",
    nl: () => 'Zet die versie terug in het sleutelbestand van de badges (badgeSecurity.keyFile) en herstart de gateway, of personaliseer de badge opnieuw met de huidige versie (ciao admin badge provision). Tot dan wordt elke tik van deze badge tegengehouden; deze wordt achteraf niet bezorgd.',
    en: () => 'Put that version back in the badge key file (badgeSecurity.keyFile) and restart the gateway, or re-personalise the badge with the current version (ciao admin badge provision). Until then every tap of this badge is held; this one is not sent afterwards.',
  },
},
  'uid-only-badge': {
  message: {
    fr: (d) => `Le badge ${s(d.badge)} ne porte qu'un numéro (UID) et le chantier ${s(d.siteId)} exige des badges sécurisés : le passage de ${s(d.time)} au terminal ${s(d.terminalId)} ${d.registered ? 'a été enregistré' : "a été reçu"}, mais un tel badge se copie facilement.`,
    nl: (d) => `Badge ${s(d.badge)} draagt alleen een nummer (UID) en werf ${s(d.siteId)} vereist beveiligde badges: de tik van ${s(d.time)} aan terminal ${s(d.terminalId)} ${d.registered ? 'werd geregistreerd' : 'werd ontvangen'}, maar zo'n badge is makkelijk te kopiëren.`,
    en: (d) => `Badge ${s(d.badge)} is a UID-only badge and site ${s(d.siteId)} requires secure badges: the tap at ${s(d.time)} at terminal ${s(d.terminalId)} ${d.registered ? 'was registered' : 'was received'}, but such a badge is easily copied.`,
  },
  advice: {
    fr: () => 'Remettez au travailleur un badge sécurisé (console : fiche du travailleur, « Personnaliser un badge sécurisé vierge » ; ou ciao admin badge provision --worker …) et révoquez celui-ci (ciao admin badge revoke). La remarque reste sur les passages faits avec lui.',
    nl: () => 'Geef de werknemer een beveiligde badge (console: fiche van de werknemer, „Een blanco beveiligde badge personaliseren”; of ciao admin badge provision --worker …) en trek deze in (ciao admin badge revoke). De opmerking blijft op de tikken die ermee gedaan werden.',
    en: () => 'Give the worker a secure badge (console: the worker’s page, “Personalise a blank secure badge”; or ciao admin badge provision --worker …) and revoke this one (ciao admin badge revoke). The remark stays on the taps made with it.',
  },
},
};


/** What a site-data change that released a held tap was, in each language (the release's `change`). */
const CHANGE_TEXT: Record<Lang, (d: Details) => string> = {
  fr: (d) => {
    const id = s(d.changedRecord);
    switch (d.change) {
      case 'badge-enrolled': return `le badge ${id} a été attribué au travailleur`;
      case 'badge-validity': return `la validité du badge ${id} a été étendue`;
      case 'declaration': return `la déclaration de travaux ${id} a été ajoutée ou modifiée`;
      case 'worker-employers': return 'les employeurs du travailleur ont été complétés';
      case 'placement': return `la mise à disposition par l'agence d'intérim a été enregistrée (${id})`;
      case 'employer-chosen': return `l'employeur ${id} a été choisi par le gestionnaire`;
      default: return `les données du chantier ont été complétées (${s(d.change)} ${id})`;
    }
  },
  nl: (d) => {
    const id = s(d.changedRecord);
    switch (d.change) {
      case 'badge-enrolled': return `badge ${id} aan de werknemer toegekend werd`;
      case 'badge-validity': return `de geldigheid van badge ${id} verruimd werd`;
      case 'declaration': return `aangifte van werken ${id} toegevoegd of gewijzigd werd`;
      case 'worker-employers': return 'de werkgevers van de werknemer aangevuld werden';
      case 'placement': return `de terbeschikkingstelling door het uitzendbureau geregistreerd werd (${id})`;
      case 'employer-chosen': return `werkgever ${id} door de beheerder gekozen werd`;
      default: return `de werfgegevens aangevuld werden (${s(d.change)} ${id})`;
    }
  },
  en: (d) => {
    const id = s(d.changedRecord);
    switch (d.change) {
      case 'badge-enrolled': return `badge ${id} was enrolled for the worker`;
      case 'badge-validity': return `badge ${id}'s validity was widened`;
      case 'declaration': return `declaration of works ${id} was added or changed`;
      case 'worker-employers': return "the worker's employers were set";
      case 'placement': return `the agency placement was recorded (${id})`;
      case 'employer-chosen': return `employer ${id} was chosen by the site manager`;
      default: return `the site data was completed (${s(d.change)} ${id})`;
    }
  },
};

/** The clause a late-transmission remark adds when the delay is a held tap sent once its data arrived. */
const releaseClause: Record<Lang, (d: Details) => string> = {
  fr: (d) => (d.change ? ` ; retenu (${s(d.heldAs)}) puis envoyé en retard le ${s(d.releasedAt)} parce que ${CHANGE_TEXT.fr(d)} (journal des modifications n° ${s(d.causeAuditId)})` : ''),
  nl: (d) => (d.change ? `; vastgehouden (${s(d.heldAs)}) en laattijdig verzonden op ${s(d.releasedAt)} omdat ${CHANGE_TEXT.nl(d)} (wijzigingslogboek nr. ${s(d.causeAuditId)})` : ''),
  en: (d) => (d.change ? `; held (${s(d.heldAs)}) and sent late on ${s(d.releasedAt)} because ${CHANGE_TEXT.en(d)} (change log #${s(d.causeAuditId)})` : ''),
};

const NEW_REMARK_TEXTS: Record<'future-dated' | 'terminal-time-zone' | 'sent-late', RemarkTexts> = {
  'future-dated': {
    message: {
      fr: (d) => `Passage au terminal ${s(d.terminalId)} daté de ${s(d.time)}, ${s(d.aheadSeconds)} s après son arrivée à la passerelle : l'horloge du terminal avance. Le passage est retenu ; rien n'a été envoyé à l'ONSS.`,
      nl: (d) => `Tik op terminal ${s(d.terminalId)} gedateerd ${s(d.time)}, ${s(d.aheadSeconds)} s na zijn aankomst bij de gateway: de klok van de terminal loopt voor. De tik wordt vastgehouden; er werd niets naar de RSZ gestuurd.`,
      en: (d) => `Tap at terminal ${s(d.terminalId)} dated ${s(d.time)}, ${s(d.aheadSeconds)} s after it reached the gateway: the terminal's clock is ahead. The tap is held; nothing was sent to ONSS.`,
    },
    advice: {
      fr: () => "Remettez l'horloge du terminal à l'heure (réseau, NTP, pile de l'horloge) : un enregistrement ne peut pas porter une heure qui n'est pas encore arrivée, et aucune heure n'est inventée. Ce passage n'est jamais envoyé ; si le travail est encore en cours, le travailleur badge à nouveau une fois l'horloge corrigée (FAQ 37).",
      nl: () => 'Zet de klok van de terminal juist (netwerk, NTP, klokbatterij): een registratie kan geen tijd dragen die nog niet gekomen is, en er wordt geen tijd verzonnen. Deze tik wordt nooit verzonden; is het werk nog bezig, dan badget de werknemer opnieuw zodra de klok juist staat (FAQ 37).',
      en: () => "Set the terminal's clock right (network, NTP, clock battery): a registration cannot carry a time that has not come yet, and no time is made up. This tap is never sent; if the work is still going on, the worker taps again once the clock is right (FAQ 37).",
    },
  },
  'terminal-time-zone': {
    message: {
      fr: (d) => `Le terminal ${s(d.terminalId)} a envoyé ${s(d.sent)} : ${d.problem === 'nonexistent-wall-time' ? "cette heure n'existe pas à Bruxelles (les horloges sautent cette heure-là)" : `le décalage ${s(d.given)} n'est pas celui de Bruxelles (${s(d.expected)}) à cet instant`}. Le passage est gardé à son instant réel, ${s(d.time)}.`,
      nl: (d) => `Terminal ${s(d.terminalId)} stuurde ${s(d.sent)}: ${d.problem === 'nonexistent-wall-time' ? 'dat uur bestaat niet in Brussel (de klokken slaan dat uur over)' : `de afwijking ${s(d.given)} is niet die van Brussel (${s(d.expected)}) op dat ogenblik`}. De tik wordt bewaard op zijn echte tijdstip, ${s(d.time)}.`,
      en: (d) => `Terminal ${s(d.terminalId)} sent ${s(d.sent)}: ${d.problem === 'nonexistent-wall-time' ? 'that wall time does not exist in Brussels (the clocks skip that hour)' : `the offset ${s(d.given)} is not Brussels' (${s(d.expected)}) at that instant`}. The tap is kept at its true instant, ${s(d.time)}.`,
    },
    advice: {
      fr: () => "Vérifiez le fuseau horaire du terminal (Europe/Brussels) et son horloge (NTP). L'enregistrement garde son instant réel ; rien n'est perdu.",
      nl: () => 'Controleer de tijdzone van de terminal (Europe/Brussels) en zijn klok (NTP). De registratie behoudt haar echte tijdstip; er gaat niets verloren.',
      en: () => "Check the terminal's time-zone setting (Europe/Brussels) and its clock (NTP). The registration keeps its true instant; nothing is lost.",
    },
  },
  'sent-late': {
    message: {
      fr: (d) => `Passage au terminal ${s(d.terminalId)} à ${s(d.time)}, retenu (${s(d.heldAs)}), envoyé en retard à l'ONSS le ${s(d.releasedAt)} avec son heure d'origine, parce que ${CHANGE_TEXT.fr(d)} (par ${s(d.changedBy)} le ${s(d.changedAt)}, journal des modifications n° ${s(d.causeAuditId)}).`,
      nl: (d) => `Tik op terminal ${s(d.terminalId)} om ${s(d.time)}, vastgehouden (${s(d.heldAs)}), laattijdig naar de RSZ verzonden op ${s(d.releasedAt)} met zijn oorspronkelijke tijd, omdat ${CHANGE_TEXT.nl(d)} (door ${s(d.changedBy)} op ${s(d.changedAt)}, wijzigingslogboek nr. ${s(d.causeAuditId)}).`,
      en: (d) => `Tap at terminal ${s(d.terminalId)} at ${s(d.time)}, held (${s(d.heldAs)}), sent late to ONSS on ${s(d.releasedAt)} with its original time, because ${CHANGE_TEXT.en(d)} (by ${s(d.changedBy)} on ${s(d.changedAt)}, change log #${s(d.causeAuditId)}).`,
    },
    advice: {
      fr: () => "Rien à faire : le travailleur a bien badgé à cette heure (FAQ 21) et l'enregistrement est parti dès que la donnée manquante a été connue. Gardez cette trace et l'entrée du journal des modifications pour expliquer la transmission tardive.",
      nl: () => 'Niets te doen: de werknemer badgede wel degelijk op dat uur (FAQ 21) en de registratie vertrok zodra het ontbrekende gegeven gekend was. Bewaar dit spoor en de vermelding in het wijzigingslogboek als verklaring van de laattijdige verzending.',
      en: () => 'Nothing to do: the worker did tap at that time (FAQ 21) and the registration left as soon as the missing data was known. Keep this trace and the change log entry as the explanation of the late transmission.',
    },
  },
};

const REMARK_TEXTS: Record<RemarkKind, RemarkTexts> = {
  'double-in': {
    message: {
      fr: (d) => `Deux IN de suite : IN à ${s(d.time)} alors qu'un IN de ${s(d.openTime)} était encore ouvert.`,
      nl: (d) => `Twee keer IN na elkaar: IN om ${s(d.time)} terwijl de IN van ${s(d.openTime)} nog open stond.`,
      en: (d) => `Two INs in a row: IN at ${s(d.time)} while the IN of ${s(d.openTime)} was still open.`,
    },
    advice: {
      fr: () => "Demandez au travailleur s'il a oublié un OUT (pause ou fin). Un enregistrement ne s'annule pas (FAQ 34) : rappelez-lui de badger OUT à chaque pause et à la fin, et notez l'explication dans votre suivi.",
      nl: () => 'Vraag de werknemer of hij een OUT (pauze of einde) vergat. Een registratie kan niet geannuleerd worden (FAQ 34): herinner hem eraan bij elke pauze en op het einde OUT te badgen en noteer de uitleg in uw opvolging.',
      en: () => 'Ask the worker whether an OUT (break or end) was forgotten. A registration cannot be cancelled (FAQ 34): remind them to badge OUT at every break and at the end, and note the explanation in your follow-up.',
    },
  },
  'out-without-in': {
    message: {
      fr: (d) => `OUT à ${s(d.time)} sans IN ouvert avant lui : le IN a été oublié ; seul le OUT a été enregistré, rien n'a été ajouté.`,
      nl: (d) => `OUT om ${s(d.time)} zonder open IN ervoor: de IN werd vergeten; alleen de OUT werd geregistreerd, er werd niets toegevoegd.`,
      en: (d) => `OUT at ${s(d.time)} with no IN open before it: the IN was forgotten; only the OUT was registered, nothing was added.`,
    },
    advice: {
      fr: () => "Un travailleur qui a oublié d'enregistrer un IN au début des activités le fait dès qu'il s'en aperçoit si les activités sont encore en cours ; si elles sont déjà terminées, il ne doit plus enregistrer le IN (FAQ 37). Rien n'est inventé : l'ONSS a reçu le OUT seul. Vérifiez que le badge et le terminal fonctionnaient (journal des pannes) et rappelez au travailleur de badger IN en arrivant.",
      nl: () => 'Een werknemer die vergat een IN te registreren bij het begin van de activiteiten, doet dat zodra hij het merkt als de activiteiten nog bezig zijn; zijn ze al afgelopen, dan registreert hij de IN niet meer (FAQ 37). Er wordt niets verzonnen: de RSZ ontving alleen de OUT. Controleer of badge en terminal werkten (storingslogboek) en herinner de werknemer eraan IN te badgen bij aankomst.',
      en: () => 'A worker who forgot to register IN at the start of the activities does so as soon as they notice, if the activities are still going on; once they have ended, the IN is no longer registered (FAQ 37). Nothing is made up: ONSS received the OUT only. Check that the badge and terminal worked (outage journal) and remind the worker to badge IN on arrival.',
    },
  },
  'missing-out': {
    message: {
      fr: (d) => `IN à ${s(d.time)} sans OUT : aucun OUT dans les ${s(d.maxShiftHours)} heures qui ont suivi, la prestation est considérée comme terminée.`,
      nl: (d) => `IN om ${s(d.time)} zonder OUT: geen OUT in de ${s(d.maxShiftHours)} uur erna, de prestatie wordt als beëindigd beschouwd.`,
      en: (d) => `IN at ${s(d.time)} without OUT: no OUT in the ${s(d.maxShiftHours)} hours after it, the shift is taken as over.`,
    },
    advice: {
      fr: () => "Un travailleur qui oublie de sortir (OUT) à la fin des activités ne doit pas le faire plus tard : un commentaire apparaît alors dans l'application de gestion CIaO de l'ONSS (FAQ 37). Le OUT n'est jamais ajouté après coup. Vérifiez que le terminal était en ligne ce jour-là et rappelez au travailleur de badger OUT en partant.",
      nl: () => 'Een werknemer die vergeet OUT te registreren op het einde van de activiteiten, doet dat later niet meer: er verschijnt dan een opmerking in de CIaO-beheertoepassing van de RSZ (FAQ 37). De OUT wordt nooit achteraf toegevoegd. Controleer of de terminal die dag online was en herinner de werknemer eraan OUT te badgen bij vertrek.',
      en: () => "A worker who forgets to register OUT at the end of the activities must not do it later: a remark then appears in ONSS's CIaO Management application (FAQ 37). The OUT is never added afterwards. Check that the terminal was online that day and remind the worker to badge OUT when leaving.",
    },
  },
  'unknown-badge': {
    message: {
      fr: (d) => `Badge inconnu ${s(d.badge)} présenté au terminal ${s(d.terminalId)} à ${s(d.time)} : aucun enregistrement n'a été fait.`,
      nl: (d) => `Onbekende badge ${s(d.badge)} aangeboden aan terminal ${s(d.terminalId)} om ${s(d.time)}: er werd niets geregistreerd.`,
      en: (d) => `Unknown badge ${s(d.badge)} presented at terminal ${s(d.terminalId)} at ${s(d.time)}: nothing was registered.`,
    },
    advice: {
      fr: () => "Identifiez le travailleur et attribuez-lui ce badge depuis ce passage (console, Enrôler) : le passage est alors envoyé en retard avec son heure d'origine (le travailleur a bien badgé, FAQ 21), dans les 30 jours. La remarque disparaît quand le badge est attribué. Un badge attribué comme badge sécurisé repasse d'abord par son contrôle.",
      nl: () => 'Zoek uit welke werknemer het is en koppel de badge aan hem vanaf deze tik (console, Inschrijven): de tik wordt dan laattijdig verzonden met zijn oorspronkelijke tijd (de werknemer badgede wel degelijk, FAQ 21), binnen 30 dagen. De opmerking verdwijnt zodra de badge gekoppeld is. Een badge die als beveiligde badge gekoppeld wordt, gaat eerst door zijn controle.',
      en: () => 'Find out which worker it is and enrol the badge to them from this tap (console, Enrol): the tap is then sent late with its original time (the worker did tap, FAQ 21), within 30 days. The remark disappears once the badge is enrolled. A badge enrolled as a secure badge goes through its check first.',
    },
  },
  'revoked-badge': {
    message: {
      fr: (d) => `Badge révoqué ${s(d.badge)} présenté au terminal ${s(d.terminalId)} à ${s(d.time)} : aucun enregistrement n'a été fait.`,
      nl: (d) => `Ingetrokken badge ${s(d.badge)} aangeboden aan terminal ${s(d.terminalId)} om ${s(d.time)}: er werd niets geregistreerd.`,
      en: (d) => `Revoked badge ${s(d.badge)} presented at terminal ${s(d.terminalId)} at ${s(d.time)}: nothing was registered.`,
    },
    advice: {
      fr: () => "Remettez au travailleur un badge valide (ou réactivez celui-ci s'il a été révoqué par erreur) ; la remarque disparaît alors. Récupérez l'ancien badge s'il a été perdu puis retrouvé.",
      nl: () => 'Geef de werknemer een geldige badge (of activeer deze opnieuw als hij per vergissing ingetrokken werd); dan verdwijnt de opmerking. Neem de oude badge terug als hij verloren en teruggevonden werd.',
      en: () => 'Give the worker a valid badge (or reactivate this one if it was revoked by mistake); the remark then disappears. Collect the old badge if it was lost and found again.',
    },
  },
  'employer-not-on-declaration': {
    message: {
      fr: (d) => `L'employeur ${s(d.employerId)} ne figure pas sur la déclaration ${s(d.declaration)}${d.declarationKnown ? '' : ' (déclaration inconnue ici)'}.`,
      nl: (d) => `Werkgever ${s(d.employerId)} staat niet op aangifte ${s(d.declaration)}${d.declarationKnown ? '' : ' (aangifte hier onbekend)'}.`,
      en: (d) => `Employer ${s(d.employerId)} is not on declaration ${s(d.declaration)}${d.declarationKnown ? '' : ' (declaration unknown here)'}.`,
    },
    advice: {
      fr: () => "Après une reprise de contrat, le travailleur a peut-être choisi l'ancien employeur : demandez une correction du numéro d'entreprise à l'ONSS dans les 30 jours (FAQ 36). Si l'entreprise travaille réellement sur ce chantier, faites-la ajouter à la déclaration de travaux puis aux données du site.",
      nl: () => 'Na een overname van het contract koos de werknemer misschien de vorige werkgever: vraag binnen 30 dagen een verbetering van het ondernemingsnummer aan bij de RSZ (FAQ 36). Werkt de onderneming echt op deze werf, laat haar dan toevoegen aan de aangifte van werken en aan de werfgegevens.',
      en: () => 'After a contract takeover the worker may have chosen the previous employer: request a correction of the company number from ONSS within 30 days (FAQ 36). If the company really works on this site, have it added to the declaration of works and then to the site data.',
    },
  },
  'employer-choice-missing': {
    message: {
      fr: (d) => d.fromTap ? `Le travailleur a plusieurs employeurs pour ce chantier et n'en a choisi aucun au terminal ${s(d.terminalId)} à ${s(d.time)} : aucun enregistrement n'a été fait.` : `Le travailleur a plusieurs employeurs mais n'en a choisi aucun ; l'employeur ${s(d.employerId)} a été pris par défaut.`,
      nl: (d) => d.fromTap ? `De werknemer heeft meerdere werkgevers voor deze werf en koos er geen op terminal ${s(d.terminalId)} om ${s(d.time)}: er werd niets geregistreerd.` : `De werknemer heeft meerdere werkgevers maar koos er geen; werkgever ${s(d.employerId)} werd standaard genomen.`,
      en: (d) => d.fromTap ? `The worker has several employers for this site and chose none at terminal ${s(d.terminalId)} at ${s(d.time)}: nothing was registered.` : `The worker has several employers but chose none; employer ${s(d.employerId)} was taken by default.`,
    },
    advice: {
      fr: () => "Choisissez l'employeur pour lequel il travaillait (console, Enrôler > Passages retenus faute d'employeur, ou ciao admin tap choose-employer) : le passage est envoyé en retard avec son heure d'origine. S'il ne travaille ici que pour un seul employeur, retirez l'autre de sa fiche : ses passages retenus partent aussi. Montrez-lui comment choisir sur le terminal (FAQ 5).",
      nl: () => 'Kies de werkgever voor wie hij werkte (console, Inschrijven > Tikken vastgehouden zonder werkgever, of ciao admin tap choose-employer): de tik wordt laattijdig verzonden met zijn oorspronkelijke tijd. Werkt hij hier maar voor één werkgever, haal de andere dan uit zijn fiche: ook dan vertrekken zijn vastgehouden tikken. Toon hem hoe hij op de terminal kiest (FAQ 5).',
      en: () => "Choose the employer they worked for (console, Enrol > Taps held for their employer, or ciao admin tap choose-employer): the tap is sent late with its original time. If they work here for one employer only, remove the other from their record: their held taps leave too. Show them how to choose on the terminal (FAQ 5).",
    },
  },
  'tap-not-registered': {
    message: {
      fr: (d) => `Badge présenté au terminal ${s(d.terminalId)} à ${s(d.time)} sans enregistrement (${s(d.status)}) : ${s(d.detail)}.`,
      nl: (d) => `Badge aangeboden aan terminal ${s(d.terminalId)} om ${s(d.time)} zonder registratie (${s(d.status)}): ${s(d.detail)}.`,
      en: (d) => `Badge presented at terminal ${s(d.terminalId)} at ${s(d.time)} without a registration (${s(d.status)}): ${s(d.detail)}.`,
    },
    advice: {
      fr: () => "Les données du chantier étaient incomplètes : ajoutez la déclaration de travaux valable ce jour-là ou l'employeur du travailleur (console ou ciao admin). Le passage retenu est alors envoyé en retard avec son heure d'origine, dans les 30 jours (le travailleur a bien badgé, FAQ 21). Un terminal sans chantier : rattachez-le ; ses passages d'avant ne sont jamais envoyés, on ne sait pas où il se trouvait.",
      nl: () => 'De werfgegevens waren onvolledig: voeg de aangifte van werken toe die die dag geldig was, of de werkgever van de werknemer (console of ciao admin). De vastgehouden tik wordt dan laattijdig verzonden met zijn oorspronkelijke tijd, binnen 30 dagen (de werknemer badgede wel degelijk, FAQ 21). Een terminal zonder werf: koppel hem; zijn tikken van ervoor worden nooit verzonden, want waar hij stond is niet gekend.',
      en: () => "The site data was incomplete: add the declaration of works valid that day, or the worker's employer (console or ciao admin). The held tap is then sent late with its original time, within 30 days (the worker did tap, FAQ 21). A terminal without a site: attach it; its taps from before are never sent, since where it stood is not known.",
    },
  },
  'clock-skew': {
    message: {
      fr: (d) => `L'horloge du terminal ${s(d.terminalId)} dérive de ${s(d.skewSeconds)} s (limite ${s(d.limitSeconds)} s).`,
      nl: (d) => `De klok van terminal ${s(d.terminalId)} wijkt ${s(d.skewSeconds)} s af (grens ${s(d.limitSeconds)} s).`,
      en: (d) => `Terminal ${s(d.terminalId)}'s clock is off by ${s(d.skewSeconds)} s (limit ${s(d.limitSeconds)} s).`,
    },
    advice: {
      fr: () => "Les heures d'enregistrement viennent de l'horloge du terminal : vérifiez sa synchronisation (réseau, NTP, pile de l'horloge). La remarque disparaît dès que le terminal rapporte une dérive sous la limite.",
      nl: () => 'De registratie-uren komen van de klok van de terminal: controleer de synchronisatie (netwerk, NTP, klokbatterij). De opmerking verdwijnt zodra de terminal een afwijking onder de grens meldt.',
      en: () => "Registration times come from the terminal's clock: check its synchronisation (network, NTP, clock battery). The remark disappears once the terminal reports a skew under the limit.",
    },
  },
  'late-transmission': {
    message: {
      fr: (d) => `${d.sentAt ? `Transmis à l'ONSS ${s(d.delayMinutes)} min après le badge` : `Pas encore transmis à l'ONSS après ${s(d.delayMinutes)} min`}${d.outage ? ` ; panne enregistrée : ${s(d.outage)}` : d.change ? '' : ' ; aucune panne enregistrée ne l\'explique'}${releaseClause.fr(d)}.`,
      nl: (d) => `${d.sentAt ? `Aan de RSZ bezorgd ${s(d.delayMinutes)} min na het badgen` : `Nog niet aan de RSZ bezorgd na ${s(d.delayMinutes)} min`}${d.outage ? `; geregistreerde storing: ${s(d.outage)}` : d.change ? '' : '; geen geregistreerde storing verklaart dit'}${releaseClause.nl(d)}.`,
      en: (d) => `${d.sentAt ? `Sent to ONSS ${s(d.delayMinutes)} min after the tap` : `Not yet sent to ONSS after ${s(d.delayMinutes)} min`}${d.outage ? `; recorded outage: ${s(d.outage)}` : d.change ? '' : '; no recorded outage explains it'}${releaseClause.en(d)}.`,
    },
    advice: {
      fr: () => "Une panne externe (internet, électricité, service de l'ONSS) est un cas de force majeure (FAQ 57-59) : gardez l'entrée du journal des pannes comme preuve. Sans panne enregistrée, vérifiez la connexion du terminal et de la passerelle. La remarque disparaît quand l'enregistrement est créé à l'ONSS et qu'une panne l'explique.",
      nl: () => 'Een externe storing (internet, elektriciteit, dienst van de RSZ) is overmacht (FAQ 57-59): bewaar de vermelding in het storingslogboek als bewijs. Zonder geregistreerde storing: controleer de verbinding van terminal en gateway. De opmerking verdwijnt zodra de registratie bij de RSZ aangemaakt is en een storing ze verklaart.',
      en: () => 'An external outage (internet, power, the ONSS service) is force majeure (FAQ 57-59): keep the outage journal entry as proof. With no recorded outage, check the terminal and gateway connection. The remark disappears once the registration is created at ONSS and an outage explains the delay.',
    },
  },
  'not-created-by-onss': {
    message: {
      fr: (d) => `L'ONSS n'a pas créé cet enregistrement : ${s(d.errors)}.`,
      nl: (d) => `De RSZ heeft deze registratie niet aangemaakt: ${s(d.errors)}.`,
      en: (d) => `ONSS did not create this registration: ${s(d.errors)}.`,
    },
    advice: {
      fr: () => "Lisez l'erreur : en général une donnée du site est fausse (numéro de déclaration, NISS du travailleur, numéro d'entreprise). Corrigez la donnée dans ciao admin pour les prochains badges ; un enregistrement refusé ne peut pas être recréé par l'employeur (FAQ 21). Contactez l'ONSS si l'erreur vous semble injustifiée.",
      nl: () => 'Lees de fout: meestal is een werfgegeven fout (aangiftenummer, INSZ van de werknemer, ondernemingsnummer). Verbeter het gegeven in ciao admin voor de volgende badges; een geweigerde registratie kan de werkgever niet opnieuw aanmaken (FAQ 21). Neem contact op met de RSZ als de fout onterecht lijkt.',
      en: () => 'Read the error: usually a site datum is wrong (declaration number, worker NISS, company number). Fix it in ciao admin for the next taps; an employer cannot recreate a refused registration (FAQ 21). Contact ONSS if the error looks unjustified.',
    },
  },
  'onss-remark': {
    message: {
      fr: (d) => `Remarque de l'ONSS : ${s(d.onssRemark)}.`,
      nl: (d) => `Opmerking van de RSZ: ${s(d.onssRemark)}.`,
      en: (d) => `Remark from ONSS: ${s(d.onssRemark)}.`,
    },
    advice: {
      fr: (d) => ONSS_REMARK_ADVICE[s(d.onssRemark)]?.fr ?? "Suivez la procédure de l'ONSS pour cette remarque (portail CIaO Management). Les remarques sont recalculées : elle disparaît quand la cause est réglée (FAQ 35).",
      nl: (d) => ONSS_REMARK_ADVICE[s(d.onssRemark)]?.nl ?? 'Volg de procedure van de RSZ voor deze opmerking (portaal CIaO Management). Opmerkingen worden herberekend: ze verdwijnt zodra de oorzaak opgelost is (FAQ 35).',
      en: (d) => ONSS_REMARK_ADVICE[s(d.onssRemark)]?.en ?? "Follow ONSS's procedure for this remark (CIaO Management portal). Remarks are recomputed: it disappears once its cause is resolved (FAQ 35).",
    },
  },
  'correction-deadline': {
    message: {
      fr: (d) => `Plus que ${s(d.daysLeft)} jour(s) pour demander la correction (jusqu'au ${s(d.until)} inclus).`,
      nl: (d) => `Nog ${s(d.daysLeft)} dag(en) om de verbetering aan te vragen (tot en met ${s(d.until)}).`,
      en: (d) => `${s(d.daysLeft)} day(s) left to request the correction (until ${s(d.until)} inclusive).`,
    },
    advice: {
      fr: () => "Si le numéro d'entreprise ou de déclaration est faux, préparez et envoyez la demande de correction maintenant (Corrections) : passé 30 jours, l'ONSS ne la prend plus (FAQ 35, 36).",
      nl: () => 'Is het ondernemings- of aangiftenummer fout, bereid dan nu de verbeteringsaanvraag voor en verstuur ze (Verbeteringen): na 30 dagen aanvaardt de RSZ ze niet meer (FAQ 35, 36).',
      en: () => 'If the company or declaration number is wrong, prepare and send the correction request now (Corrections): after 30 days ONSS no longer takes it (FAQ 35, 36).',
    },
  },
  ...BADGE_REMARK_TEXTS,
  ...NEW_REMARK_TEXTS,
};

/** Specific advice for the remarks ONSS is publicly known to return. */
const ONSS_REMARK_ADVICE: Record<string, Localized> = {
  'RELATED DIMONA NOT OK': {
    fr: "Aucune Dimona valable pour ce travailleur à cette date : faites vérifier ou introduire la Dimona par le service du personnel ; la remarque disparaît quand la Dimona est en ordre.",
    nl: 'Geen geldige Dimona voor deze werknemer op die datum: laat de personeelsdienst de Dimona nakijken of indienen; de opmerking verdwijnt zodra de Dimona in orde is.',
    en: 'No valid Dimona for this worker on that date: have payroll check or file the Dimona; the remark disappears once the Dimona is in order.',
  },
  'COMPANY IS NOT KNOWN AS BUILDER OR SUBCONTRACTOR IN THIS DUC': {
    fr: "L'entreprise n'est pas sur la déclaration de travaux : demandez une correction du numéro d'entreprise dans les 30 jours si le travailleur s'est trompé (FAQ 36), sinon faites ajouter le sous-traitant à la déclaration.",
    nl: 'De onderneming staat niet op de aangifte van werken: vraag binnen 30 dagen een verbetering van het ondernemingsnummer aan als de werknemer zich vergiste (FAQ 36), laat anders de onderaannemer aan de aangifte toevoegen.',
    en: 'The company is not on the declaration of works: request a correction of the company number within 30 days if the worker made a mistake (FAQ 36), otherwise have the subcontractor added to the declaration.',
  },
  'DUC IS NOT EXISTING': {
    fr: "Le numéro de déclaration n'existe pas : corrigez-le dans les données du site et demandez une correction du numéro de déclaration dans les 30 jours (FAQ 36).",
    nl: 'Het aangiftenummer bestaat niet: verbeter het in de werfgegevens en vraag binnen 30 dagen een verbetering van het aangiftenummer aan (FAQ 36).',
    en: 'The declaration number does not exist: fix it in the site data and request a correction of the declaration number within 30 days (FAQ 36).',
  },
  'DUC IS NOT ACTIVE AT THIS DATE': {
    fr: "La déclaration n'était pas active ce jour-là : vérifiez ses dates, et s'il fallait une autre déclaration (reprise de contrat), demandez une correction dans les 30 jours (FAQ 5, 36).",
    nl: 'De aangifte was die dag niet actief: controleer haar data, en was een andere aangifte van toepassing (overname), vraag dan binnen 30 dagen een verbetering aan (FAQ 5, 36).',
    en: 'The declaration was not active that day: check its dates, and if another declaration applied (contract takeover), request a correction within 30 days (FAQ 5, 36).',
  },
  'SAME DECLARATION HAS ALREADY BEEN REGISTERED': {
    fr: "L'ONSS a reçu ce passage deux fois. Rien ne s'annule (FAQ 34) : gardez la trace de l'incident (journal des pannes) pour un éventuel contrôle.",
    nl: 'De RSZ ontving deze tik twee keer. Niets kan geannuleerd worden (FAQ 34): bewaar het spoor van het incident (storingslogboek) voor een eventuele controle.',
    en: 'ONSS received this tap twice. Nothing can be cancelled (FAQ 34): keep the trace of the incident (outage journal) for a possible inspection.',
  },
  'NISS IS NOT KNOW IN THE NATIONAL REGISTER': {
    fr: "Le NISS du travailleur est inconnu : vérifiez-le sur sa carte d'identité ou son numéro BIS et corrigez la fiche du travailleur.",
    nl: 'Het INSZ van de werknemer is onbekend: controleer het op zijn identiteitskaart of zijn BIS-nummer en verbeter de werknemersfiche.',
    en: "The worker's NISS is unknown: check it on their identity card or BIS number and fix the worker's record.",
  },
  'EMPLOYER NOT ACTIVE': {
    fr: "L'employeur n'est pas actif à l'ONSS à cette date : vérifiez le numéro d'entreprise choisi et demandez une correction dans les 30 jours s'il est faux (FAQ 36).",
    nl: 'De werkgever is op die datum niet actief bij de RSZ: controleer het gekozen ondernemingsnummer en vraag binnen 30 dagen een verbetering aan als het fout is (FAQ 36).',
    en: 'The employer is not active at ONSS on that date: check the chosen company number and request a correction within 30 days if it is wrong (FAQ 36).',
  },
};

export function localize(kind: RemarkKind, details: Details): { message: Localized; advice: Localized } {
  const t = REMARK_TEXTS[kind];
  return {
    message: { fr: t.message.fr(details), nl: t.message.nl(details), en: t.message.en(details) },
    advice: { fr: t.advice.fr(details), nl: t.advice.nl(details), en: t.advice.en(details) },
  };
}
